-- Parley history, schema version 2, frozen when version 2 was released.
-- Never edit: tests upgrade this to the latest schema and check that nothing is lost,
-- and check that migration steps 1 and 2 still create exactly this schema.
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
-- Version 2: feedback, comparisons, content-filter events and the outbox.
CREATE TABLE moderation_events (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            source TEXT NOT NULL CHECK (source IN ('input', 'output')),
            filter TEXT NOT NULL,
            category TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('allow', 'warn', 'block')),
            score REAL NOT NULL,
            evidence TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        )
;
CREATE INDEX moderation_events_message ON moderation_events (message_id)
;
CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('rating', 'false_positive', 'false_negative')),
            rating INTEGER CHECK (rating IN (-1, 1)),
            reasons TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(reasons)),
            comment TEXT NOT NULL DEFAULT '',
            ideal_answer TEXT,
            category TEXT,
            moderation_event_id INTEGER REFERENCES moderation_events(id) ON DELETE SET NULL,
            context TEXT NOT NULL CHECK (json_valid(context)),
            revision INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            withdrawn_at REAL,
            CHECK ((kind = 'rating') = (rating IS NOT NULL)),
            CHECK (kind = 'rating' OR category IS NOT NULL)
        )
;
CREATE UNIQUE INDEX feedback_one_rating ON feedback (message_id) WHERE kind = 'rating'
;
CREATE INDEX feedback_message ON feedback (message_id, kind)
;
CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            all_bad INTEGER NOT NULL DEFAULT 0 CHECK (all_bad IN (0, 1)),
            chosen_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            comment TEXT NOT NULL DEFAULT '',
            context TEXT NOT NULL CHECK (json_valid(context)),
            revision INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            withdrawn_at REAL
        )
;
CREATE INDEX comparisons_parent ON comparisons (parent_id)
;
CREATE INDEX comparisons_conversation ON comparisons (conversation_id)
;
CREATE TABLE comparison_items (
            comparison_id INTEGER NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            rank INTEGER CHECK (rank IS NULL OR rank >= 1),
            PRIMARY KEY (comparison_id, message_id)
        ) WITHOUT ROWID
;
CREATE INDEX comparison_items_message ON comparison_items (message_id)
;
CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('feedback', 'comparison', 'withdrawal')),
            record_uid TEXT NOT NULL,
            feedback_id INTEGER REFERENCES feedback(id) ON DELETE CASCADE,
            comparison_id INTEGER REFERENCES comparisons(id) ON DELETE CASCADE,
            payload TEXT NOT NULL CHECK (json_valid(payload)),
            state TEXT NOT NULL DEFAULT 'review' CHECK (state IN ('review', 'pending', 'held', 'sent')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_error TEXT,
            last_status INTEGER,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            sent_at REAL
        )
;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending'
;
CREATE INDEX outbox_feedback ON outbox (feedback_id)
;
CREATE INDEX outbox_comparison ON outbox (comparison_id)
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
-- Version 2 data: a thumbs-down with reasons and an ideal answer on message 2, a ranking of
-- the two answers to message 1 (3 preferred), a content-filter warning on message 4 reported
-- as wrongly flagged, a withdrawn thumbs-up on message 3, and the rating waiting in the outbox.
INSERT INTO moderation_events (id, message_id, source, filter, category, action, score,
    evidence, created_at)
VALUES (1, 4, 'input', 'rules', 'violence', 'warn', 1.0, 'dinner', 1767229001.0)
;
INSERT INTO feedback (id, uid, message_id, kind, rating, reasons, comment, ideal_answer,
    category, moderation_event_id, context, revision, created_at, updated_at, withdrawn_at)
VALUES (1, 'f-0001', 2, 'rating', -1, '["made_up_facts","too_verbose"]',
    'Café Schober closed years ago.', 'Try Sprüngli on Paradeplatz.', NULL, NULL,
    '{"model":"SmolLM2-135M-Instruct","params":{"temperature":0.3},"system_prompt":"You are a travel guide.","prompt":[{"role":"system","content":"You are a travel guide."},{"role":"user","content":"Where can I get a good café crème in Zürich?"}]}',
    2, 1767226000.0, 1767226100.0, NULL)
;
INSERT INTO feedback (id, uid, message_id, kind, rating, reasons, comment, ideal_answer,
    category, moderation_event_id, context, revision, created_at, updated_at, withdrawn_at)
VALUES (2, 'f-0002', 3, 'rating', 1, '[]', '', NULL, NULL, NULL,
    '{"model":"SmolLM2-135M-Instruct","params":{"temperature":0.9},"system_prompt":"You are a travel guide.","prompt":[{"role":"system","content":"You are a travel guide."},{"role":"user","content":"Where can I get a good café crème in Zürich?"}]}',
    1, 1767226200.0, 1767226300.0, 1767226300.0)
;
INSERT INTO feedback (id, uid, message_id, kind, rating, reasons, comment, ideal_answer,
    category, moderation_event_id, context, revision, created_at, updated_at, withdrawn_at)
VALUES (3, 'f-0003', 4, 'false_positive', NULL, '[]', 'Asking about dinner is harmless.',
    NULL, 'violence', 1,
    '{"model":null,"params":null,"system_prompt":"You are a travel guide.","prompt":[]}',
    1, 1767229050.0, 1767229050.0, NULL)
;
INSERT INTO comparisons (id, uid, conversation_id, parent_id, all_bad, chosen_id, comment,
    context, revision, created_at, updated_at, withdrawn_at)
VALUES (1, 'k-0001', 1, 1, 0, 3, '',
    '{"system_prompt":"You are a travel guide.","prompt":[{"role":"system","content":"You are a travel guide."},{"role":"user","content":"Where can I get a good café crème in Zürich?"}]}',
    1, 1767226400.0, 1767226400.0, NULL)
;
INSERT INTO comparison_items (comparison_id, message_id, position, rank) VALUES (1, 2, 0, 2)
;
INSERT INTO comparison_items (comparison_id, message_id, position, rank) VALUES (1, 3, 1, 1)
;
INSERT INTO outbox (id, idempotency_key, kind, record_uid, feedback_id, comparison_id, payload,
    state, attempts, next_attempt_at, last_error, last_status, created_at, updated_at, sent_at)
VALUES (1, 'idem-0001', 'feedback', 'f-0001', 1, NULL, '{"type":"feedback","uid":"f-0001"}',
    'pending', 2, 1767226500.0, 'The endpoint answered 503 (Service Unavailable).', 503,
    1767226100.0, 1767226400.0, NULL)
;
PRAGMA user_version = 2
;
