// ids.ts: the in-process branch check agrees with `git check-ref-format --branch`; ids look as the contract says.

import { spawnSync } from "node:child_process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  branchNameProblem, digestWorkerIdForBranch, gtrFolderName, isMessageId, isOrchestratorId, isWorkerId,
  isWorkerIdOfBranch, MAX_BRANCH_BYTES, MESSAGE_ID_PATTERN, newMessageId, newOrchestratorId, ORCH_ID_PATTERN,
  workerIdForBranch, workerIdsForBranch,
} from "../src/ids.ts";
import { scratchRepo } from "./helpers.ts";

const CORPUS = [
  "main", "feat/login", "fix/#12-x", "a..b", "-x", "--x", "a;rm -rf x", "$(touch pwned)", "`id`", "a b", "a\tb", "a~b",
  "a^b", "a:b", "a?b", "a*b", "a[b", "a\\b", "a/", "/a", "a//b", "a.", ".a", "a/.b", "a.lock", "a/b.lock", "a.lock/b",
  "@", "a@{b", "a@b", "HEAD", "head", "x/HEAD", "refs/heads/x", "ünïcödé", "日本語/ブランチ", "a\u007fb",
  "a\u0001b", "", "a/b/c/d", "...", "a.b", "a..", "a/./b", "a/../b", "feat-login", "x'y", 'x"y', "x|y", "x&y", "x>y",
  "x<y", "x!y", "x#y", "x%y", "x=y", "x+y", "x,y", "a-", "a_", "1", "0.1", "v1.2.3", "a/b.", "a/.lock", "a.lock.lock",
  "@/x", "x/@", "a@", "{a}", "a}{", "ab~1",
];

test("branchNameProblem agrees with git check-ref-format --branch on every name of the corpus", () => {
  const repo = scratchRepo();
  const disagreements: string[] = [];
  for (const name of CORPUS) {
    const gitSays = spawnSync("git", ["check-ref-format", "--branch", name], { cwd: repo }).status === 0;
    const weSay = branchNameProblem(name) === null;
    // The contract refuses every leading -; and git's --branch reads "@" as the current branch
    // (printing "main"), which as a name for a new branch would be a mistake, so orch refuses it.
    const expected = gitSays && !name.startsWith("-") && name !== "@";
    const verdicts = `git ${gitSays ? "accepts" : "rejects"}, orch ${weSay ? "accepts" : "rejects"}`;
    if (weSay !== expected) disagreements.push(`${JSON.stringify(name)}: ${verdicts}`);
  }
  assert.equal(disagreements, []);
});

test("orchestrator and message ids match their patterns and message ids sort by time", async () => {
  for (let i = 0; i < 200; i++) assert.ok(isOrchestratorId(newOrchestratorId()));
  const ids: string[] = [];
  for (let i = 0; i < 500; i++) ids.push(newMessageId());
  for (const id of ids) assert.ok(isMessageId(id), id);
  assert.equal([...ids].sort(), ids, "ids made one after another sort in that order");
  assert.is(new Set(ids).size, ids.length);
});

test("the character checks agree with the published patterns, on good ids and on near misses", () => {
  const orchPattern = new RegExp(ORCH_ID_PATTERN);
  const messagePattern = new RegExp(MESSAGE_ID_PATTERN);
  const samples = [
    newOrchestratorId(), newMessageId(), "orch_ABCDEFGH", "orch_abc", "orch_abcdefghi", "../x", "", "orch_abcdefg/",
    "msg_", "msg_0hodh0jyot8klu0x0bK", "msg_0hodh0jyot8klu0x0b", "orch_abcdefg\n", "xorch_abcdefgh",
  ];
  for (const s of samples) {
    assert.is(isOrchestratorId(s), orchPattern.test(s), s);
    assert.is(isMessageId(s), messagePattern.test(s), s);
  }
  for (const s of ["feat-login", "a.b_c-d", "..", ".", "-x", "a/b", "a b", "ü", "", "w1..", "a..b", "..."]) {
    assert.is(isWorkerId(s), /^[A-Za-z0-9._-]+$/.test(s) && s !== "." && !s.includes("..") && !s.startsWith("-"), s);
  }
});

test("worker ids follow the contract and folders follow git-gtr", () => {
  assert.is(workerIdForBranch("feat/login"), "feat-login");
  assert.is(workerIdForBranch("fix/#12-x"), "fix--12-x");
  assert.is(workerIdForBranch("fix/ü"), "fix--");
  assert.is(workerIdForBranch("feat/é"), "feat--", "the contract's id, outside ASCII too");
  assert.is(workerIdForBranch("功能/登录"), "_____");
  assert.is(workerIdForBranch("feat/😀x"), "feat--x", "every character, one outside the BMP too, is one -");
  assert.is(workerIdForBranch("😀/x"), "__x");
  assert.is(workerIdForBranch("über/x"), "_ber-x");
  assert.is(gtrFolderName("fix/#12-x"), "fix--12-x");
  assert.is(gtrFolderName("feat/login"), "feat-login");
});

test("a branch outside ASCII has a digest id, for when its contract id is another branch's; ASCII has none", () => {
  // The digest is fixed: the orch that drives a host and the host's orch check it alike, and records name it.
  assert.is(digestWorkerIdForBranch("feat/é"), "feat---pemli9x3");
  assert.is(digestWorkerIdForBranch("feat/è"), "feat---mmyj8wzk");
  assert.is(digestWorkerIdForBranch("功能/登录"), "_____-catt3tzi");
  assert.is(digestWorkerIdForBranch("功能/注册"), "_____-42kk36nk");
  assert.is(digestWorkerIdForBranch("über/x"), "_ber-x-xdocle4h");
  assert.is(digestWorkerIdForBranch("feat/a"), undefined, "feat/a and feat-a stay one id");
  assert.is(digestWorkerIdForBranch("fix/#12-x"), undefined);
  const branches = [
    "feat/é", "feat/è", "feat/e\u0301", "功能/登录", "功能/注册", "функция/вход", "функция/выход", "функция/входы",
    "fix/ü", "fix/ö", "日本語/ブランチ", "ünïcödé", "ünïcöde", "über/x", "öber/x", "feat/😀x", "feat/😁x", "😀/x",
    ...Array.from({ length: 300 }, (_, i) => `ветка/${String.fromCodePoint(0x0430 + (i % 32))}${i}`),
  ];
  const digests = branches.map((b) => digestWorkerIdForBranch(b)!);
  assert.is(new Set(digests).size, branches.length, "no two branches share a digest id");
  for (const [i, id] of digests.entries()) {
    const branch = branches[i]!;
    assert.ok(isWorkerId(id), id);
    assert.ok(id.startsWith(`${workerIdForBranch(branch)}-`), `${id}: the contract id, - and 8 more`);
    assert.is(id.length, workerIdForBranch(branch).length + 9);
    assert.ok(isWorkerIdOfBranch(id, branch) && isWorkerIdOfBranch(workerIdForBranch(branch), branch), branch);
    assert.not.ok(isWorkerIdOfBranch(digests[(i + 1) % digests.length]!, branch), "not another branch's digest id");
  }
});

test("the ids a branch's worker is looked for under: contract, digest, an earlier build's per-UTF-16 id", () => {
  assert.equal(workerIdsForBranch("feat/login"), ["feat-login"]);
  assert.equal(workerIdsForBranch("feat/é"), ["feat--", "feat---pemli9x3"]);
  assert.equal(workerIdsForBranch("feat/😀x"), ["feat--x", digestWorkerIdForBranch("feat/😀x"), "feat---x"]);
  assert.equal(workerIdsForBranch("😀/x"), ["__x", digestWorkerIdForBranch("😀/x"), "___x"]);
  // Only the contract and digest ids are given to a new worker (--worker-id takes no other).
  assert.not.ok(isWorkerIdOfBranch("feat---x", "feat/😀x"));
  assert.ok(isWorkerIdOfBranch("feat-a", "feat@a"), "feat@a's contract id is feat-a");
  assert.not.ok(isWorkerIdOfBranch("feat-a-x", "feat/a"));
});

test("the longest branches outside ASCII have digest ids short enough for orch's file names", () => {
  const longest = ["a".repeat(MAX_BRANCH_BYTES - 2) + "é", "é".repeat(MAX_BRANCH_BYTES / 2), "😀".repeat(MAX_BRANCH_BYTES / 4)];
  for (const branch of longest) {
    assert.is(branchNameProblem(branch), null, branch);
    const id = digestWorkerIdForBranch(branch)!;
    assert.ok(isWorkerId(id), id);
    // The longest suffix orch gives a worker's folder: .removed-<pid>-<ms>; its journal's temporary file is shorter.
    assert.ok(Buffer.byteLength(`${id}.removed-4194304-${Date.now()}`) <= 255, `${id.length}`);
  }
  assert.is(digestWorkerIdForBranch(longest[0]!)!.length, MAX_BRANCH_BYTES + 8, "199 readable characters, - and 8");
});

test.run();
