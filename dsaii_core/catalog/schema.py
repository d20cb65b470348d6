"""The catalog's schema: each migration upgrades a database by one version (`PRAGMA user_version`)."""

# Each entry upgrades the schema by one version; never edit a released entry, append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE classes (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        dirname TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL DEFAULT 'object' CHECK (kind IN ('object', 'texture')),
        prompt TEXT,
        negative_prompt TEXT,
        settings TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL
    );
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES classes(id),
        role TEXT NOT NULL CHECK (role IN ('normal', 'anomaly')),
        file TEXT NOT NULL UNIQUE,
        sha256 TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        status TEXT NOT NULL,
        parent_id INTEGER REFERENCES items(id),
        mask_id INTEGER REFERENCES masks(id),
        defect TEXT,
        origin TEXT NOT NULL,
        seed INTEGER,
        info TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE INDEX items_class_role ON items(class_id, role, status);
    CREATE INDEX items_sha ON items(class_id, sha256);
    CREATE TABLE masks (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items(id),
        kind TEXT NOT NULL CHECK (kind IN ('object', 'anomaly')),
        file TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        replaces INTEGER REFERENCES masks(id),
        area REAL,
        confidence REAL,
        seed INTEGER,
        params TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL
    );
    CREATE INDEX masks_item ON masks(item_id, kind, active);
    CREATE TABLE provenance (
        item_id INTEGER PRIMARY KEY REFERENCES items(id),
        source_url TEXT, page_url TEXT, license TEXT, attribution TEXT,
        engine TEXT, query TEXT, title TEXT, fetched_at REAL
    );
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        class_id INTEGER REFERENCES classes(id),
        target TEXT NOT NULL CHECK (target IN ('item', 'mask', 'class')),
        target_id INTEGER NOT NULL,
        action TEXT NOT NULL,
        old TEXT,
        new TEXT,
        user TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL,
        undone_at REAL
    );
    CREATE TABLE bank_masks (
        id INTEGER PRIMARY KEY,
        file TEXT NOT NULL UNIQUE,
        sha256 TEXT NOT NULL UNIQUE,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        area REAL NOT NULL,
        source TEXT NOT NULL,
        license TEXT,
        defect TEXT,
        created REAL NOT NULL
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        class_id INTEGER REFERENCES classes(id),
        params TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'queued',
        total INTEGER NOT NULL DEFAULT 0,
        done INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        pid INTEGER,
        heartbeat REAL,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE TABLE job_items (
        job_id INTEGER NOT NULL REFERENCES jobs(id),
        key TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        result TEXT,
        error TEXT,
        PRIMARY KEY (job_id, key)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        detector TEXT NOT NULL,
        settings TEXT NOT NULL DEFAULT '{}',
        maps_dir TEXT,
        created REAL NOT NULL
    );
    CREATE TABLE run_metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        class_name TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL,
        PRIMARY KEY (run_id, class_name, metric)
    );
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # collect (issue 4): what happened to every crawled URL (resume, errors per URL); bulk decisions undo as one.
    """
    CREATE TABLE crawl_urls (
        class_id INTEGER NOT NULL REFERENCES classes(id),
        url TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        item_id INTEGER REFERENCES items(id),
        engine TEXT,
        at REAL NOT NULL,
        PRIMARY KEY (class_id, url)
    );
    ALTER TABLE decisions ADD COLUMN batch INTEGER;
    """,
    # anomaly masks (issue 6): bank masks are stored cropped; the frame they were cut from (size, offset)
    # keeps the reference augmentation exact (its translate range and centre are relative to that frame).
    """
    ALTER TABLE bank_masks ADD COLUMN frame_width INTEGER;
    ALTER TABLE bank_masks ADD COLUMN frame_height INTEGER;
    ALTER TABLE bank_masks ADD COLUMN frame_left INTEGER;
    ALTER TABLE bank_masks ADD COLUMN frame_top INTEGER;
    """,
    # Ray (issue 10): where a job's worker runs it (this machine, or which Ray cluster), for the pages.
    """
    ALTER TABLE jobs ADD COLUMN runs_on TEXT;
    """,
    # trust the output (issue 14): undo is an action log (each click, bulk action or run is one named entry of
    # one kind: curate, review, object_mask, anomaly_mask, class); imported files keep their original name.
    """
    PRAGMA defer_foreign_keys = ON;
    CREATE TABLE actions (
        id INTEGER PRIMARY KEY,
        class_id INTEGER REFERENCES classes(id),
        kind TEXT NOT NULL,
        label TEXT NOT NULL,
        user TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL,
        undone_at REAL
    );
    CREATE INDEX actions_class_kind ON actions(class_id, kind, user);
    ALTER TABLE decisions ADD COLUMN action_id INTEGER REFERENCES actions(id);
    ALTER TABLE decisions ADD COLUMN kind TEXT;
    UPDATE decisions SET kind = CASE
        WHEN target = 'class' THEN 'class'
        WHEN target = 'item' THEN (SELECT CASE role WHEN 'normal' THEN 'curate' ELSE 'review' END
                                   FROM items WHERE items.id = decisions.target_id)
        ELSE (SELECT CASE kind WHEN 'object' THEN 'object_mask' ELSE 'anomaly_mask' END
              FROM masks WHERE masks.id = CAST(COALESCE(decisions.new, decisions.old) AS INTEGER)) END;
    UPDATE decisions SET action_id = (SELECT MIN(e.id) FROM decisions e WHERE e.batch = decisions.batch
                                      AND e.class_id IS decisions.class_id AND e.kind IS decisions.kind)
        WHERE batch IS NOT NULL;
    UPDATE decisions SET action_id = id WHERE action_id IS NULL;
    INSERT INTO actions (id, class_id, kind, label, user, at, undone_at)
        SELECT action_id, class_id, COALESCE(kind, 'class'), 'earlier change', user, MIN(at), MAX(undone_at)
        FROM decisions GROUP BY action_id;
    CREATE INDEX decisions_action ON decisions(action_id);
    CREATE INDEX items_newest ON items(class_id, role, id);
    ALTER TABLE provenance ADD COLUMN original_name TEXT;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
