-- Parley history, schema version 1, frozen when version 1 was released.
-- Never edit: tests upgrade this to the latest schema and check that nothing is lost,
-- and check that migration step 1 still creates exactly this schema.
-- Times are Unix seconds (UTC). Statements are separated by lines holding only ';'.

CREATE TABLE folders (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            position INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        )
;
CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
            folder_id INTEGER REFERENCES folders(id) ON DELETE SET NULL,
            system_prompt TEXT,
            overrides TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(overrides)),
            current_leaf_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            deleted_at REAL,
            delete_token TEXT
        )
;
CREATE INDEX conversations_sidebar
            ON conversations (pinned DESC, updated_at DESC, title, folder_id, deleted_at)
            WHERE deleted_at IS NULL
;
CREATE INDEX conversations_folder ON conversations (folder_id)
;
CREATE INDEX conversations_leaf ON conversations (current_leaf_id)
;
CREATE INDEX conversations_deleted ON conversations (delete_token)
            WHERE delete_token IS NOT NULL
;
CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
            content TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'streaming', 'stopped', 'error', 'interrupted')),
            model TEXT,
            params TEXT CHECK (params IS NULL OR json_valid(params)),
            stats TEXT CHECK (stats IS NULL OR json_valid(stats)),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
;
CREATE INDEX messages_tree ON messages (conversation_id, parent_id)
;
CREATE INDEX messages_children ON messages (parent_id, created_at)
;
CREATE INDEX messages_streaming ON messages (id) WHERE status = 'streaming'
;
CREATE VIRTUAL TABLE messages_fts USING fts5 (
            content, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4')
;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END
;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
        END
;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END
;
CREATE VIRTUAL TABLE titles_fts USING fts5 (
            title, content = 'conversations', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4')
;
CREATE TRIGGER titles_fts_insert AFTER INSERT ON conversations BEGIN
            INSERT INTO titles_fts (rowid, title) VALUES (new.id, new.title);
        END
;
CREATE TRIGGER titles_fts_delete AFTER DELETE ON conversations BEGIN
            INSERT INTO titles_fts (titles_fts, rowid, title) VALUES ('delete', old.id, old.title);
        END
;
CREATE TRIGGER titles_fts_update AFTER UPDATE OF title ON conversations BEGIN
            INSERT INTO titles_fts (titles_fts, rowid, title) VALUES ('delete', old.id, old.title);
            INSERT INTO titles_fts (rowid, title) VALUES (new.id, new.title);
        END
;
-- Data: a pinned conversation in a folder with a regenerated answer (two branches) and an
-- answer left 'streaming' by a crash; a conversation in the trash.
INSERT INTO folders (id, name, position, created_at) VALUES (1, 'Travel', 0, 1767225600.0)
;
INSERT INTO conversations (id, uid, title, created_at, updated_at, pinned, folder_id,
    system_prompt, overrides, current_leaf_id, deleted_at, delete_token)
VALUES (1, 'c-0001', 'Trip to Zürich', 1767225600.0, 1767229200.0, 1, 1,
    'You are a travel guide.', '{"temperature":0.3}', NULL, NULL, NULL)
;
INSERT INTO conversations (id, uid, title, created_at, updated_at, pinned, folder_id,
    system_prompt, overrides, current_leaf_id, deleted_at, delete_token)
VALUES (2, 'c-0002', 'Deleted chat', 1767225700.0, 1767225800.0, 0, NULL,
    NULL, '{}', NULL, 1767225900.0, 'token-2')
;
INSERT INTO messages (id, uid, conversation_id, parent_id, role, content, status, model,
    params, stats, created_at, updated_at)
VALUES (1, 'm-0001', 1, NULL, 'user', 'Where can I get a good café crème in Zürich?',
    'complete', NULL, NULL, NULL, 1767225600.0, 1767225600.0)
;
INSERT INTO messages (id, uid, conversation_id, parent_id, role, content, status, model,
    params, stats, created_at, updated_at)
VALUES (2, 'm-0002', 1, 1, 'assistant', 'Try Café Schober in the old town.',
    'complete', 'SmolLM2-135M-Instruct', '{"temperature":0.3}', '{"decode_tok_s":91.0}',
    1767225610.0, 1767225615.0)
;
INSERT INTO messages (id, uid, conversation_id, parent_id, role, content, status, model,
    params, stats, created_at, updated_at)
VALUES (3, 'm-0003', 1, 1, 'assistant', 'Sprüngli on Paradeplatz is a classic.',
    'complete', 'SmolLM2-135M-Instruct', '{"temperature":0.9}', '{"decode_tok_s":88.5}',
    1767225620.0, 1767225625.0)
;
INSERT INTO messages (id, uid, conversation_id, parent_id, role, content, status, model,
    params, stats, created_at, updated_at)
VALUES (4, 'm-0004', 1, 3, 'user', 'And for dinner?',
    'complete', NULL, NULL, NULL, 1767229000.0, 1767229000.0)
;
INSERT INTO messages (id, uid, conversation_id, parent_id, role, content, status, model,
    params, stats, created_at, updated_at)
VALUES (5, 'm-0005', 1, 4, 'assistant', 'The Zeughauskeller serves',
    'streaming', 'SmolLM2-135M-Instruct', '{"temperature":0.3}', NULL,
    1767229100.0, 1767229200.0)
;
INSERT INTO messages (id, uid, conversation_id, parent_id, role, content, status, model,
    params, stats, created_at, updated_at)
VALUES (6, 'm-0006', 2, NULL, 'user', 'A question about gnocchi',
    'complete', NULL, NULL, NULL, 1767225700.0, 1767225700.0)
;
UPDATE conversations SET current_leaf_id = 5 WHERE id = 1
;
UPDATE conversations SET current_leaf_id = 6 WHERE id = 2
;
PRAGMA user_version = 1
;
