// The shapes of the operations' answers the console reads (docs/reference/rest.md has them all).

export interface Freshness {
  indexed_hash: string;
  state: string;
}

export interface Hit {
  path: string;
  start_line: number;
  end_line: number;
  citation: string;
  language: string;
  kind: string;
  symbol: string | null;
  parent: string | null;
  signature: string | null;
  score: number;
  snippet: string;
  freshness: Freshness;
  signals: Record<string, number>;
}

export interface Confidence {
  score: number;
  label: string;
  no_good_match: boolean;
  reason: string;
}

export interface SearchOut {
  root: string;
  query: string;
  hits: Hit[];
  total_candidates: number;
  took_ms: number;
  index_state: string;
  offset: number;
  next_cursor: string | null;
  confidence: Confidence | null;
}

export interface LocalizedFile {
  path: string;
  rank: number;
  score: number;
  freshness: string;
}

export interface Location {
  path: string;
  symbol: string;
  start_line: number;
  end_line: number;
  citation: string;
  rank: number;
  score: number;
  freshness: string;
}

export interface LocalizeOut {
  root: string;
  issue_chars: number;
  files: LocalizedFile[];
  locations: Location[];
  files_considered: number;
  took_ms: number;
  index_state: string;
  confidence: Confidence | null;
}

export interface Cited {
  path: string;
  start_line: number;
  end_line: number;
  citation: string;
}

export interface RelatedOut {
  root: string;
  target: string;
  target_kind: string;
  files: string[];
  definitions: Cited[];
  imports: Cited[];
  importers: Cited[];
  references: Cited[];
  tests: Cited[];
  co_changes: Cited[];
  recent_commits: Record<string, unknown>[];
  notes: string[];
  index_state: string;
  git_history: boolean;
}

export interface RootInfo {
  name: string;
  path: string;
  source: string;
  watcher?: { enabled: boolean; running: boolean; ready: boolean; error: string | null };
}

export interface Progress {
  phase?: string;
  files_total?: number;
  files_done?: number;
  chunks_done?: number;
  elapsed_s?: number;
}

export interface Job {
  id: number;
  kind: string;
  reason: string;
  status: string;
  progress?: Progress;
  report?: Record<string, unknown>;
  queued_at?: number;
  started_at?: number | null;
  finished_at?: number | null;
  error?: string | null;
}

export interface RootStatus {
  exists: boolean;
  phase?: string;
  progress?: Progress;
  files?: number;
  chunks?: number;
  vectors?: number;
  index_bytes?: number;
  languages?: Record<string, number>;
  skipped?: Record<string, number>;
  secrets?: { path: string; detail: string }[];
  last_run?: { id: number; status: string; started_at: number; finished_at: number | null; pid?: number };
  partial?: boolean;
  embedder_id?: string;
  compatible?: boolean;
  mismatches?: string[];
  stale?: { modified: number; deleted: number; examples: string[] };
  jobs?: { current: Job | null; queued: Job[]; recent: Job[] };
  watcher?: RootInfo["watcher"];
  index_state?: string;
}

export interface StatusOut {
  root: string;
  index_state: string;
  message: string;
  status: RootStatus;
  roots: RootInfo[];
}

export interface IndexControlOut {
  root: string;
  action: string;
  index_state: string;
  message: string;
}
