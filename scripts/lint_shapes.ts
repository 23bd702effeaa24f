/**
 * The shapes the style asks for, as lint rules (`deno lint` runs them, see
 * deno.json): a function reads at once (at most 60 lines) and nests its
 * control flow at most 4 deep. A function that must be longer says why in
 * `// deno-lint-ignore ferry-shapes/function-length -- why`. They hold for
 * the product (lib/ and commands/); tests and scripts read as stories.
 *
 * @module
 */

/** Longest function, in lines, from its first line to its closing brace. */
export const MAX_FUNCTION_LINES = 60;
/** Deepest nesting of if, loops, try and switch inside one function. */
export const MAX_NESTING = 4;

type Node = Deno.lint.Node;

const NESTING = new Set([
  "IfStatement",
  "ForStatement",
  "ForInStatement",
  "ForOfStatement",
  "WhileStatement",
  "DoWhileStatement",
  "TryStatement",
  "SwitchStatement",
]);
const FUNCTIONS = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);

/** The line (from 1) of a character offset. */
function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

/** How deep `node` is nested in its function, itself counted; an `else if` is one level. */
function depthOf(node: Node): number {
  let depth = 0;
  let child: Node | undefined;
  for (let at: Node | null | undefined = node; at && !FUNCTIONS.has(at.type);) {
    const elseIf = at.type === "IfStatement" && child?.type === "IfStatement" &&
      (at as Deno.lint.IfStatement).alternate === child;
    if (NESTING.has(at.type) && !elseIf) depth++;
    child = at;
    at = "parent" in at ? at.parent as Node : null;
  }
  return depth;
}

/** Whether the file is the product's, where the shapes hold. */
function inProduct(filename: string): boolean {
  return /\/(lib|commands)\//.test(filename.replaceAll("\\", "/"));
}

const plugin: Deno.lint.Plugin = {
  name: "ferry-shapes",
  rules: {
    "function-length": {
      create(context) {
        if (!inProduct(context.filename)) return {};
        const text = context.sourceCode.text;
        const check = (node: Node, reported: Node = node) => {
          const lines = lineAt(text, node.range[1]) - lineAt(text, reported.range[0]) + 1;
          if (lines <= MAX_FUNCTION_LINES) return;
          context.report({
            node: reported,
            message: `This function is ${lines} lines (at most ${MAX_FUNCTION_LINES}): ` +
              "split it into its steps, or say why it cannot be",
          });
        };
        return {
          FunctionDeclaration: (node) => check(node),
          ArrowFunctionExpression: (node) => check(node),
          FunctionExpression(node) {
            // A method is reported at its name, where an ignore comment goes.
            const parent = node.parent as Node;
            check(node, parent.type === "MethodDefinition" ? parent : node);
          },
        };
      },
    },
    "nesting-depth": {
      create(context) {
        if (!inProduct(context.filename)) return {};
        const check = (node: Node) => {
          const depth = depthOf(node);
          if (depth !== MAX_NESTING + 1) return;
          context.report({
            node,
            message:
              `Nested ${depth} deep (at most ${MAX_NESTING}): move the inner part into a function`,
          });
        };
        return Object.fromEntries([...NESTING].map((type) => [type, check]));
      },
    },
  },
};

export default plugin;
