#!/usr/bin/env node
// Ground truth for TypeScript from the compiler's language service, for bench/tool_accuracy.py.
//
// A JSON-lines protocol on stdin/stdout, one answer line per request line:
//   {"cmd": "init", "root": ABS, "tsconfig": REL|null, "files": [REL...]}  -> {"ok": true, "files": N}
//   {"cmd": "symbols"}  -> {"symbols": [{path, name, qualname, kind, line, col, end_line, pos}]}
//   {"cmd": "answer", "symbol": {...}}  -> {references, calls, use, use_definitions, callees}
//   {"cmd": "imports"}  -> {"imports": {REL: [REL...]}}
// Lines are 1-based, columns 0-based; every location is root-relative and inside the given files.
// References come from findReferences, call sites and callees from the call hierarchy
// (prepareCallHierarchy, provideCallHierarchyIncomingCalls / OutgoingCalls), definitions from
// getDefinitionAtPosition, imports from ts.resolveModuleName with the repository's compiler options.
"use strict";

const fs = require("fs");
const path = require("path");
const readline = require("readline");
const ts = require("typescript");

let root = "";
let files = [];
let fileSet = new Set();
let options = {};
let service = null;
const snapshots = new Map();

function rel(abs) {
  const r = path.relative(root, abs).split(path.sep).join("/");
  return fileSet.has(r) ? r : null;
}

function compilerOptions(tsconfig) {
  const base = { allowJs: true, noEmit: true, skipLibCheck: true, jsx: ts.JsxEmit.Preserve };
  if (!tsconfig) return base;
  const abs = path.join(root, tsconfig);
  const read = ts.readConfigFile(abs, ts.sys.readFile);
  if (read.error) return base;
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, path.dirname(abs));
  // The repository's resolution settings (baseUrl, paths, moduleResolution) matter; its file list does not.
  return { ...parsed.options, ...base, types: [] };
}

function init(req) {
  root = req.root;
  files = req.files.filter((f) => /\.(ts|tsx|js|jsx|mjs|cjs|mts|cts)$/.test(f));
  fileSet = new Set(files);
  options = compilerOptions(req.tsconfig);
  const host = {
    getScriptFileNames: () => files.map((f) => path.join(root, f)),
    getScriptVersion: () => "1",
    getScriptSnapshot: (name) => {
      if (!snapshots.has(name)) {
        if (!fs.existsSync(name)) return undefined;
        snapshots.set(name, ts.ScriptSnapshot.fromString(fs.readFileSync(name, "utf8")));
      }
      return snapshots.get(name);
    },
    getCurrentDirectory: () => root,
    getCompilationSettings: () => options,
    getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
    fileExists: ts.sys.fileExists,
    readFile: ts.sys.readFile,
    readDirectory: ts.sys.readDirectory,
    directoryExists: ts.sys.directoryExists,
    getDirectories: ts.sys.getDirectories,
  };
  service = ts.createLanguageService(host, ts.createDocumentRegistry());
  return { ok: true, files: files.length };
}

function source(relPath) {
  return service.getProgram().getSourceFile(path.join(root, relPath));
}

function lineCol(sf, pos) {
  const lc = sf.getLineAndCharacterOfPosition(pos);
  return [lc.line + 1, lc.character];
}

function isFunctionLike(node) {
  return node && (ts.isArrowFunction(node) || ts.isFunctionExpression(node));
}

// Classes, functions, methods and top-level `const f = () => ...`, not those inside a function body.
function symbols() {
  const out = [];
  for (const f of files) {
    const sf = source(f);
    if (!sf) continue;
    const add = (nameNode, kind, chain, node) => {
      const name = nameNode.text;
      const pos = nameNode.getStart(sf);
      const [line, col] = lineCol(sf, pos);
      const end = lineCol(sf, node.getEnd())[0];
      out.push({ path: f, name, qualname: [...chain, name].join("."), kind, line, col, end_line: end, pos });
    };
    const visit = (node, chain, inClass) => {
      if (ts.isFunctionDeclaration(node) && node.name && node.body) {
        add(node.name, "function", chain, node);
        return; // what is declared inside a body is local
      }
      if (ts.isClassDeclaration(node) && node.name) {
        add(node.name, "class", chain, node);
        node.members.forEach((m) => visit(m, [...chain, node.name.text], true));
        return;
      }
      if (inClass && ts.isMethodDeclaration(node) && node.body && ts.isIdentifier(node.name)) {
        add(node.name, "method", chain, node);
        return;
      }
      if (ts.isVariableStatement(node)) {
        for (const d of node.declarationList.declarations) {
          if (ts.isIdentifier(d.name) && isFunctionLike(d.initializer)) add(d.name, "function", chain, d);
        }
        return;
      }
      if (ts.isModuleDeclaration(node) || ts.isModuleBlock(node) || ts.isSourceFile(node)) {
        ts.forEachChild(node, (c) => visit(c, chain, false));
      }
    };
    visit(sf, [], false);
  }
  return { symbols: out };
}

function nodeAt(sf, pos) {
  let found = sf;
  const descend = (node) => {
    if (node.getStart(sf) <= pos && pos < node.getEnd()) {
      found = node;
      ts.forEachChild(node, descend);
    }
  };
  ts.forEachChild(sf, descend);
  return found;
}

function inImport(node) {
  for (let n = node; n; n = n.parent) {
    if (ts.isImportDeclaration(n) || ts.isExportDeclaration(n) || ts.isImportEqualsDeclaration(n)) return true;
  }
  return false;
}

function loc(fileName, pos, name) {
  const r = rel(fileName);
  if (r === null) return null;
  const [line] = lineCol(source(r), pos);
  return name === undefined ? [r, line] : [r, line, name];
}

function answer(sym) {
  const abs = path.join(root, sym.path);
  const references = [];
  const uses = [];
  for (const group of service.findReferences(abs, sym.pos) || []) {
    for (const ref of group.references) {
      const r = rel(ref.fileName);
      if (r === null) continue;
      const start = ref.textSpan.start;
      if (r === sym.path && start === sym.pos) continue; // the declaration itself
      const sf = source(r);
      const node = nodeAt(sf, start);
      const imported = inImport(node);
      if (ref.isDefinition && !imported) continue; // an override or another declaration, not a use
      references.push(loc(ref.fileName, start));
      if (!imported && node.text === sym.name) uses.push({ file: ref.fileName, start, r });
    }
  }
  let use = null;
  let useDefinitions = [];
  uses.sort((a, b) => (a.r < b.r ? -1 : a.r > b.r ? 1 : a.start - b.start));
  if (uses.length) {
    const u = uses[0];
    use = loc(u.file, u.start, sym.name);
    for (const d of service.getDefinitionAtPosition(u.file, u.start) || []) {
      const l = loc(d.fileName, d.textSpan.start, d.name);
      if (l) useDefinitions.push(l);
    }
  }
  const calls = [];
  const callees = [];
  const items = service.prepareCallHierarchy(abs, sym.pos);
  for (const item of Array.isArray(items) ? items : items ? [items] : []) {
    for (const call of service.provideCallHierarchyIncomingCalls(item.file, item.selectionSpan.start)) {
      for (const span of call.fromSpans) {
        const l = loc(call.from.file, span.start);
        if (l) calls.push(l);
      }
    }
    if (sym.kind !== "class") {
      for (const call of service.provideCallHierarchyOutgoingCalls(item.file, item.selectionSpan.start)) {
        const l = loc(call.to.file, call.to.selectionSpan.start, call.to.name);
        if (l && !(l[0] === sym.path && l[1] === sym.line)) callees.push(l);
      }
    }
  }
  return {
    references: references.filter(Boolean),
    calls,
    use,
    use_definitions: useDefinitions,
    callees: sym.kind === "class" ? null : callees,
  };
}

function specifiers(sf) {
  const out = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) out.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const e = node.moduleReference.expression;
      if (ts.isStringLiteral(e)) out.push(e.text);
    } else if (ts.isCallExpression(node) && node.arguments.length && ts.isStringLiteral(node.arguments[0])) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === "require")) {
        out.push(node.arguments[0].text);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function imports() {
  const out = {};
  const host = ts.createCompilerHost(options);
  for (const f of files) {
    const sf = source(f);
    if (!sf) continue;
    const targets = new Set();
    for (const spec of specifiers(sf)) {
      const res = ts.resolveModuleName(spec, path.join(root, f), options, host).resolvedModule;
      const r = res ? rel(res.resolvedFileName) : null;
      if (r !== null && r !== f) targets.add(r);
    }
    out[f] = [...targets].sort();
  }
  return { imports: out };
}

const handlers = { init, symbols, answer: (req) => answer(req.symbol), imports };
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let reply;
  try {
    const req = JSON.parse(line);
    reply = handlers[req.cmd](req);
  } catch (err) {
    reply = { error: String(err && err.stack ? err.stack : err) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
});
