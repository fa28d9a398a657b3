#!/usr/bin/env node
// Declarations of TypeScript/JavaScript files from the TypeScript compiler's parser, for
// bench/chunk_accuracy.py. Usage: node declarations.js ROOT REL... ; prints one JSON line per file:
//   {"path": REL, "symbols": [{name, kind, parent, line, end_line, local}]}
// Lines are 1-based; `line` is where the node starts without its leading comments (decorators and
// modifiers included), `end_line` the line of its last character. `local` marks declarations inside a
// function body; `kind` is class | interface | enum | module | type | function | method | signature
// (a method without a body) | variable | property.
"use strict";

const fs = require("fs");
const path = require("path");
const ts = require("typescript");

function isFunctionValue(node) {
  if (!node) return false;
  while (ts.isParenthesizedExpression(node) || ts.isAsExpression(node)) node = node.expression;
  return ts.isArrowFunction(node) || ts.isFunctionExpression(node) || ts.isClassExpression(node);
}

function nameOf(node, sf) {
  if (!node) return null;
  if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) return node.text;
  if (ts.isStringLiteral(node) || ts.isNumericLiteral(node)) return node.text;
  return node.getText(sf);
}

function declarations(rel, root) {
  const text = fs.readFileSync(path.join(root, rel), "utf8");
  const kindOfScript = /\.tsx$/.test(rel) ? ts.ScriptKind.TSX : /\.jsx$/.test(rel) ? ts.ScriptKind.JSX
    : /\.(js|mjs|cjs)$/.test(rel) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true, kindOfScript);
  const out = [];
  const line = (pos) => sf.getLineAndCharacterOfPosition(pos).line + 1;
  const add = (name, kind, node, parent, local) => {
    if (!name) return;
    out.push({ name, kind, parent: parent || null, line: line(node.getStart(sf)), end_line: line(node.end), local });
  };
  const visit = (node, parent, local) => {
    let next = parent;
    let inBody = local;
    if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) {
      let name = node.name ? node.name.text : null;
      if (!name && ts.isVariableDeclaration(node.parent)) name = nameOf(node.parent.name, sf);
      if (ts.isClassDeclaration(node)) add(name || "default", "class", node, parent, local);
      next = name || parent;
    } else if (ts.isInterfaceDeclaration(node)) {
      add(node.name.text, "interface", node, parent, local);
      next = node.name.text;
    } else if (ts.isEnumDeclaration(node)) {
      add(node.name.text, "enum", node, parent, local);
    } else if (ts.isModuleDeclaration(node)) {
      add(nameOf(node.name, sf), "module", node, parent, local);
      next = nameOf(node.name, sf);
    } else if (ts.isTypeAliasDeclaration(node)) {
      add(node.name.text, "type", node, parent, local);
    } else if (ts.isFunctionDeclaration(node)) {
      add(node.name ? node.name.text : "default", node.body ? "function" : "signature", node, parent, local);
      inBody = true;
    } else if (ts.isMethodDeclaration(node) || ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node)) {
      add(nameOf(node.name, sf), node.body ? "method" : "signature", node, parent, local);
      inBody = true;
    } else if (ts.isConstructorDeclaration(node)) {
      add("constructor", node.body ? "method" : "signature", node, parent, local);
      inBody = true;
    } else if (ts.isMethodSignature(node)) {
      add(nameOf(node.name, sf), "signature", node, parent, local);
    } else if (ts.isPropertyDeclaration(node) || ts.isPropertySignature(node)) {
      add(nameOf(node.name, sf), isFunctionValue(node.initializer) ? "method" : "property", node, parent, local);
    } else if (ts.isVariableStatement(node)) {
      for (const decl of node.declarationList.declarations) {
        const fn = isFunctionValue(decl.initializer) && !ts.isClassExpression(decl.initializer);
        // A one-declaration statement spans from `export const`; several share the statement.
        const at = node.declarationList.declarations.length === 1 ? node : decl;
        add(nameOf(decl.name, sf), fn ? "function" : "variable", at, parent, local);
      }
    } else if (ts.isExpressionStatement(node) && ts.isBinaryExpression(node.expression)
               && node.expression.operatorToken.kind === ts.SyntaxKind.EqualsToken
               && isFunctionValue(node.expression.right)
               && (ts.isPropertyAccessExpression(node.expression.left) || ts.isIdentifier(node.expression.left))) {
      // JavaScript's assignment declarations (`proto.format = function`, `exports.x = () =>`): the
      // compiler's binder declares these too (expando members).
      const left = node.expression.left;
      const name = ts.isIdentifier(left) ? left.text : left.name.text;
      add(name, "function", node, parent, local);
    } else if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
      inBody = true;
    }
    ts.forEachChild(node, (child) => visit(child, next, inBody));
  };
  visit(sf, null, false);
  return out;
}

const [root, ...rels] = process.argv.slice(2);
for (const rel of rels) {
  let symbols = [];
  try {
    symbols = declarations(rel, root);
  } catch (err) {
    process.stderr.write(`declarations.js: ${rel}: ${err}\n`);
  }
  process.stdout.write(JSON.stringify({ path: rel, symbols }) + "\n");
}
