// POSIX sh single-quoting, for the scripts cnilab generates (kernel batches, guest init).
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
