// A pre-parser for the hot commands: `--name value` (the value whatever it looks like), `--name=value`,
// switches, and "--" ending the flags. Anything else (help, short flags, unknown or repeated flags)
// returns undefined and is left to cac, which stays the authority on help and errors. It spares
// notify and poll cac's ~4 ms.

import type { CommandSpec, OptionSpec } from "./spec.ts";

export interface Parsed {
  args: string[];
  flags: Record<string, unknown>;
}

/**
 * pr-url → prUrl (and --pr-url → --prUrl), as cac names its options (written out: no regular expression on the hot
 * path). main.ts and hosts/remote.ts name flags the same way with it.
 */
export function camel(name: string): string {
  let out = "";
  for (let i = 0; i < name.length; i++) {
    const startsWord = name[i] === "-" && i + 1 < name.length;
    out += startsWord ? name[++i]!.toUpperCase() : name[i];
  }
  return out;
}

interface FlagInfo {
  key: string;
  takesValue: boolean;
  negated: boolean;
}

function flagTable(options: OptionSpec[]): Map<string, FlagInfo> {
  const table = new Map<string, FlagInfo>();
  for (const option of options) {
    const [flag = "", value] = option.flags.split(" ");
    if (!flag.startsWith("--") || flag.includes(",")) continue;
    const name = flag.slice(2);
    const negated = name.startsWith("no-");
    const key = camel(negated ? name.slice(3) : name);
    table.set(name, { key, takesValue: value?.startsWith("<") ?? false, negated });
  }
  return table;
}

export function fastParse(spec: CommandSpec, globals: OptionSpec[], argv: string[]): Parsed | undefined {
  const positionals = spec.usage.split(/\s+/).slice(1);
  if (positionals.some((p) => p.includes("..."))) return undefined;
  const table = flagTable([...globals, ...spec.options]);
  const flags: Record<string, unknown> = {};
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    // Text with a space ("-n is the flag") is a value, never a flag.
    const isTextWithSpace = /\s/.test(token) && !(token.startsWith("--") && token.includes("="));
    if (!token.startsWith("-") || token === "-" || isTextWithSpace) {
      args.push(token);
      continue;
    }
    if (!token.startsWith("--")) return undefined;
    const eq = token.indexOf("=");
    const name = token.slice(2, eq < 0 ? undefined : eq);
    const info = table.get(name);
    if (!info || info.key in flags) return undefined;
    if (info.takesValue) {
      const value = eq >= 0 ? token.slice(eq + 1) : argv[++i];
      if (value === undefined) return undefined;
      flags[info.key] = value;
    } else {
      if (eq >= 0) return undefined;
      flags[info.key] = !info.negated;
    }
  }
  if (args.length > positionals.length) return undefined;
  if (positionals.some((p, i) => p.startsWith("<") && args[i] === undefined)) return undefined;
  return { args, flags };
}
