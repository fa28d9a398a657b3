// Usage from a VS Code extension host: a command that searches the workspace's Conexus server,
// boosts the file being edited, and opens the chosen hit at its cited lines.
// package.json of the extension: "contributes": {"commands": [{"command": "conexus.search", "title": "Conexus: Search"}]}
import * as vscode from "vscode";
import { ConexusApiError, ConexusClient } from "@conexus/client";

export function activate(context: vscode.ExtensionContext): void {
  const config = vscode.workspace.getConfiguration("conexus");
  const client = new ConexusClient({
    baseUrl: config.get<string>("url") ?? "http://127.0.0.1:8765",
    // The key lives in VS Code's secret storage, never in settings.json.
    token: async () => (await context.secrets.get("conexus.apiKey")) ?? "",
  });

  context.subscriptions.push(
    vscode.commands.registerCommand("conexus.search", async () => {
      const query = await vscode.window.showInputBox({ prompt: "Search the codebase" });
      if (!query) return;
      const folder = vscode.workspace.workspaceFolders?.[0];
      const active = vscode.window.activeTextEditor?.document.uri;
      const activeFile = active && folder ? vscode.workspace.asRelativePath(active, false) : undefined;
      // Cancelling the progress notification aborts the request.
      const hits = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "Conexus", cancellable: true },
        async (_progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          try {
            const result = await client.search(
              { query, top_k: 20, ...(activeFile ? { work_context: { active_file: activeFile } } : {}) },
              { signal: abort.signal, timeoutMs: 15_000 },
            );
            return result.hits;
          } catch (error) {
            if (error instanceof ConexusApiError) {
              void vscode.window.showErrorMessage(`Conexus: ${error.problem.detail}`);
              return [];
            }
            throw error;
          }
        },
      );
      const picked = await vscode.window.showQuickPick(
        hits.map((hit) => ({ label: hit.citation, description: hit.symbol ?? "", detail: hit.snippet, hit })),
        { matchOnDescription: true, matchOnDetail: true },
      );
      if (!picked || !folder) return;
      const uri = vscode.Uri.joinPath(folder.uri, picked.hit.path);
      const range = new vscode.Range(picked.hit.start_line - 1, 0, picked.hit.end_line - 1, 0);
      await vscode.window.showTextDocument(uri, { selection: range });
    }),
  );
}

export function deactivate(): void {}
