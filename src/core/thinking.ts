/**
 * Thinking models, judged. A canary answer may carry the model's reasoning in a separate field
 * (`message.thinking` on Ollama's native API, `delta.reasoning` on Ollama's /v1 and vLLM,
 * `delta.reasoning_content` on llama.cpp) or inline in the content as `<think>…</think>` (Ollama before
 * `think` existed, any server started without a reasoning parser). The reasoning is stripped before the
 * answer is matched, and an answer that ran out of tokens while the model was still thinking is told apart
 * from a wrong one: the node is fine, the canary's budget is not.
 *
 * Pure: text in, verdict out (step-table tests in test/unit/thinking.test.ts).
 */

export interface AnswerFacts {
  /** Concatenated content deltas, as received. */
  content: string;
  /** Concatenated reasoning from a separate field (thinking / reasoning / reasoning_content). */
  reasoning: string;
  /** Tokens the server says it generated (thinking included), when it said. */
  evalCount?: number;
  /** The token limit the request asked for. */
  maxTokens: number;
}

export type AnswerVerdict =
  | { kind: 'answer'; text: string; thought: boolean }
  /** Finished with nothing outside a thinking block, and the block was still open or filled the budget. */
  | { kind: 'thinking_budget'; thoughtChars: number }
  | { kind: 'empty'; thought: boolean };

const OPEN = /<think(?:ing)?>/i;
const CLOSE = /<\/think(?:ing)?>/i;

/**
 * Splits inline `<think>…</think>` blocks off the content. Some templates put `<think>` in the prompt, so
 * the output starts inside the block and only `</think>` appears (vLLM's qwen3 parser handles both): a
 * closing tag with no opening one ends a block that began at the start.
 */
export function splitInline(content: string): { answer: string; thought: string; open: boolean; blocks: number } {
  let rest = content;
  let answer = '';
  let thought = '';
  let blocks = 0;
  const firstClose = CLOSE.exec(rest);
  const firstOpen = OPEN.exec(rest);
  if (firstClose && (!firstOpen || firstClose.index < firstOpen.index)) {
    thought += rest.slice(0, firstClose.index);
    rest = rest.slice(firstClose.index + firstClose[0].length);
    blocks++;
  }
  for (;;) {
    const open = OPEN.exec(rest);
    if (!open) return { answer: answer + rest, thought, open: false, blocks };
    blocks++;
    answer += rest.slice(0, open.index);
    rest = rest.slice(open.index + open[0].length);
    const close = CLOSE.exec(rest);
    if (!close) return { answer, thought: thought + rest, open: true, blocks };
    thought += rest.slice(0, close.index);
    rest = rest.slice(close.index + close[0].length);
  }
}

/**
 * What the model answered, with its thinking removed:
 *   visible answer text                                       → answer (matched against `expect`)
 *   no answer, inline block left open                         → thinking_budget
 *   no answer, reasoning seen and the budget used up          → thinking_budget
 *   no answer, reasoning seen, budget not used up             → empty (it thought, then said nothing)
 *   no answer, no reasoning                                   → empty
 */
export function judgeAnswer(f: AnswerFacts): AnswerVerdict {
  const inline = splitInline(f.content);
  // An empty block (qwen3 after /no_think) still says the model is a thinking one.
  const thought = f.reasoning.trim() !== '' || inline.blocks > 0;
  const text = inline.answer.trim();
  if (text !== '') return { kind: 'answer', text, thought };
  const thoughtChars = f.reasoning.length + inline.thought.length;
  if (inline.open) return { kind: 'thinking_budget', thoughtChars };
  const usedUp = f.evalCount === undefined || f.evalCount >= f.maxTokens;
  if (thought && usedUp) return { kind: 'thinking_budget', thoughtChars };
  return { kind: 'empty', thought };
}
