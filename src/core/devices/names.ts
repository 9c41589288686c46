/** Device names: short, safe as bare TOML keys and in file names and terminal output. */
export const DEVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

export function isDeviceName(s: string): boolean {
  return DEVICE_NAME.test(s);
}
