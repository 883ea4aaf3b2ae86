/** "llama3.2" and "llama3.2:latest" name the same model (case-insensitive; a registry port is not a tag). */
export function sameModel(a: string, b: string): boolean {
  const full = (m: string) => {
    const n = m.trim().toLowerCase();
    return n.slice(n.lastIndexOf('/') + 1).includes(':') ? n : `${n}:latest`;
  };
  return full(a) === full(b);
}
