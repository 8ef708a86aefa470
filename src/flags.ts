// Reading parsed flags strictly: a value flag given twice or without a value is a usage error.

import { usage } from "./errors.ts";

export type Flags = Record<string, unknown>;

function flagName(name: string): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** A flag that takes text. Numbers the parser made of it are turned back into the text typed. */
export function stringFlag(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw usage(`${flagName(name)} was given more than once`);
  if (typeof value === "boolean") throw usage(`${flagName(name)} needs a value`);
  return String(value);
}

export function requiredString(flags: Flags, name: string): string {
  const value = stringFlag(flags, name);
  if (value === undefined) throw usage(`${flagName(name)} is required`);
  return value;
}

export function booleanFlag(flags: Flags, name: string): boolean {
  const value = flags[name];
  if (Array.isArray(value)) return value.length > 0 && value.every(Boolean);
  if (typeof value === "string") throw usage(`${flagName(name)} takes no value`);
  return value === true;
}

/** `--timeout SEC`: a non-negative number of seconds, as milliseconds. */
export function timeoutFlag(flags: Flags, name = "timeout"): number | undefined {
  const raw = flags[name];
  if (raw === undefined) return undefined;
  const text = stringFlag(flags, name)!;
  // A decimal number as people and `sleep` write it: 5, 0.5, .5, 5., 1e3; never hex, a sign or words.
  if (!/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) || !Number.isFinite(Number(text))) {
    throw usage(`${flagName(name)} must be a non-negative number of seconds, not ${JSON.stringify(text)}`);
  }
  return Math.round(Number(text) * 1000);
}

export function positional(args: unknown[], index: number, what: string): string {
  const value = args[index];
  if (value === undefined || value === "") throw usage(`missing ${what}`);
  return String(value);
}
