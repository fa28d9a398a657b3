-- 0003: file texts and imports by content hash, for query replicas without a checkout (issue #14).
-- Applied by conexus.store.postgres.schema; independent of the steps before it but 0001.
--
-- One row per (content hash, language), shared by every index (every tree) of the database
-- holding that content: `text` is the zlib-compressed UTF-8 text, `imports` a JSON array of
-- [line, end_line, specifier, names, level] (conexus.store.contents). `import_terms` holds the
-- index terms a content's imports spell, so "who imports X" is a lookup, not a parse.
-- Contents no file holds are deleted by the next index run that prunes (under an advisory
-- lock: conexus.store.postgres.contents).

CREATE TABLE contents (
    hash text NOT NULL,
    language text NOT NULL,
    text bytea NOT NULL,
    imports text NOT NULL DEFAULT '[]',
    PRIMARY KEY (hash, language)
);

CREATE TABLE import_terms (
    term text NOT NULL,
    hash text NOT NULL,
    language text NOT NULL,
    PRIMARY KEY (term, hash, language)
);
CREATE INDEX import_terms_content ON import_terms (hash, language);

CREATE INDEX IF NOT EXISTS files_content ON files (hash, language);
