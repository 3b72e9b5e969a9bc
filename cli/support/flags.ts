/** Argument parsers for commander options, shared by the commands. */
import { InvalidArgumentError } from "commander";

/** A whole number min–max. Commander prefixes the message with the flag and the value, so it names neither. */
export const intFlag = (min: number, max: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer ${min}–${max}`);
  return n;
};
