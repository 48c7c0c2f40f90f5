/** The part of eslint-scope 8 (which ships no types) that hoisting.ts uses. */
declare module "eslint-scope" {
  export interface Definition {
    type: "CatchClause" | "ClassName" | "FunctionName" | "ImplicitGlobalVariable" | "ImportBinding" | "Parameter" | "TDZ" | "Variable";
    name: unknown;
    node: unknown;
    parent: unknown;
  }
  export interface Reference {
    identifier: unknown;
    from: Scope;
  }
  export interface Variable {
    name: string;
    defs: Definition[];
    references: Reference[];
  }
  export interface Scope {
    type: string;
    block: unknown;
    upper: Scope | null;
    variables: Variable[];
    /** References not resolved in this scope (for the global scope: every use of a global). */
    through: Reference[];
  }
  export interface ScopeManager {
    scopes: Scope[];
  }
  export function analyze(ast: unknown, options: { ecmaVersion: number; sourceType: "script" | "module" }): ScopeManager;
}
