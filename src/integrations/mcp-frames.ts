// orch mcp's first look at each request line: what is not a JSON-RPC 2.0 message (or a tools/call without its
// name and arguments) is answered here with the error JSON-RPC names for it, instead of reaching the SDK, which
// answers nothing for such a line and dumps its whole schema error on stderr.

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const INVALID_PARAMS = -32602;

export interface FrameProblem {
  /** The request's id when it has a usable one; the error response omits it otherwise. */
  id?: string | number;
  code: number;
  message: string;
  /** Said on stderr only: a notification is never answered (JSON-RPC). */
  quiet?: true;
}

/** The first issue the SDK's own schema finds in a request or notification it would drop unanswered. */
export type SdkRefusal = (message: unknown, kind: "request" | "notification") => string | undefined;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Why `line` cannot be served as it is, or undefined when it is a message for the SDK. What the SDK's
 * schema refuses (`sdkRefusal`) it drops with one vague stderr line and no answer: answered here instead.
 */
export function frameProblem(line: string, sdkRefusal: SdkRefusal = () => undefined): FrameProblem | undefined {
  let message: unknown;
  try {
    message = JSON.parse(line);
  } catch (error) {
    return { code: PARSE_ERROR, message: `Parse error: ${(error as Error).message.split("\n")[0]}` };
  }
  if (!isRecord(message)) {
    const what = Array.isArray(message) ? "a batch (an array), which MCP does not take" : `a JSON ${typeof message}`;
    return { code: INVALID_REQUEST, message: `Invalid Request: expected one JSON-RPC object, got ${what}` };
  }
  // The SDK takes integer ids only (1.5 and 1e300 are JSON-RPC numbers it cannot answer to).
  const usable = typeof message.id === "string" || Number.isSafeInteger(message.id);
  const id = usable ? message.id as string | number : undefined;
  const invalid = (why: string): FrameProblem => ({
    ...(id === undefined ? {} : { id }), code: INVALID_REQUEST, message: `Invalid Request: ${why}`,
  });
  if (message.jsonrpc !== "2.0") return invalid('"jsonrpc" must be "2.0"');
  if ("id" in message && id === undefined) return invalid('"id" must be a string or an integer');
  const isResponse = id !== undefined && ("result" in message || "error" in message) && !("method" in message);
  if (isResponse) return undefined;
  if (typeof message.method !== "string") return invalid('"method" must be a string');
  if (id === undefined) return notificationProblem(message, message.method, sdkRefusal);
  const problem = message.method === "tools/call" ? toolCallProblem(id, message.params) : undefined;
  if (problem !== undefined) return problem;
  const refused = sdkRefusal(message, "request");
  return refused === undefined ? undefined : invalid(refused);
}

function notificationProblem(message: unknown, method: string, sdkRefusal: SdkRefusal): FrameProblem | undefined {
  const quiet = (why: string): FrameProblem => ({
    code: INVALID_REQUEST, message: `Invalid Request: ${why}`, quiet: true,
  });
  // MCP's notifications are all notifications/…: anything else without an id is a request missing it.
  if (!method.startsWith("notifications/")) return quiet(`${method} without an id is a notification: not run`);
  const refused = sdkRefusal(message, "notification");
  return refused === undefined ? undefined : quiet(`${method}: ${refused}`);
}

function toolCallProblem(id: string | number, params: unknown): FrameProblem | undefined {
  const problem = (why: string): FrameProblem => ({ id, code: INVALID_PARAMS, message: `Invalid params: ${why}` });
  if (!isRecord(params)) return problem("tools/call needs params, an object with name and arguments");
  if (typeof params.name !== "string") return problem("params.name must be the tool's name, a string");
  if (params.arguments !== undefined && !isRecord(params.arguments)) {
    return problem("params.arguments must be an object of the tool's arguments");
  }
  return undefined;
}

const INTERNAL_ERROR = -32603;

/** The first issue of a schema error's pretty-printed issue list, in one line; undefined for other text. */
export function schemaIssueLine(text: string): string | undefined {
  if (!text.startsWith("[")) return undefined;
  let issues: unknown;
  try {
    issues = JSON.parse(text);
  } catch {
    return undefined;
  }
  const first = Array.isArray(issues) && isRecord(issues[0]) ? issues[0] : undefined;
  if (first === undefined || typeof first.message !== "string") return undefined;
  const where = Array.isArray(first.path) && first.path.length > 0 ? `${first.path.join(".")}: ` : "";
  return `${where}${first.message}`;
}

/**
 * The SDK answers a request whose params fail its schema (initialize without protocolVersion, say) with
 * -32603 and the schema library's issue list, pretty-printed JSON, as the message. That is bad params, not
 * an internal error: made -32602 with the first issue in one line. Any other message passes unchanged.
 */
export function readableSchemaError<T>(message: T): T {
  if (!isRecord(message) || !isRecord(message.error)) return message;
  const { code, message: text } = message.error;
  const issue = code === INTERNAL_ERROR && typeof text === "string" ? schemaIssueLine(text) : undefined;
  if (issue === undefined) return message;
  return { ...message, error: { code: INVALID_PARAMS, message: `Invalid params: ${issue}` } };
}
