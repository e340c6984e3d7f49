// The tasks piscina runs: trivial (returns the pid) and echo.
export function trivial() { return process.pid; }
export function echo(b) { return b; }
