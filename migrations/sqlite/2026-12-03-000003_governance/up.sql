-- Governance: the roles users sign off with, and the signoffs a change must carry before it may
-- touch a product's channel (rules, releases, shutoffs) or a product's permissions. Changes to
-- all three tables are recorded in `changes` (table names `user_roles`,
-- `required_signoffs_product`, `required_signoffs_permissions`).

-- A role is a name a user holds (Balrog's `user_roles`); it has no options.
CREATE TABLE user_roles (
    username     TEXT NOT NULL REFERENCES users (name),
    role         TEXT NOT NULL,
    data_version BIGINT NOT NULL,
    PRIMARY KEY (username, role)
);
CREATE INDEX user_roles_role_idx ON user_roles (role);

-- Changes to rules, releases and shutoffs of this product and channel need this many signoffs
-- by users holding `role`.
CREATE TABLE required_signoffs_product (
    product           TEXT NOT NULL,
    channel           TEXT NOT NULL,
    role              TEXT NOT NULL,
    signoffs_required BIGINT NOT NULL CHECK (signoffs_required >= 1),
    data_version      BIGINT NOT NULL,
    PRIMARY KEY (product, channel, role)
);

-- Changes to permissions that cover this product need this many signoffs by users holding `role`.
CREATE TABLE required_signoffs_permissions (
    product           TEXT NOT NULL,
    role              TEXT NOT NULL,
    signoffs_required BIGINT NOT NULL CHECK (signoffs_required >= 1),
    data_version      BIGINT NOT NULL,
    PRIMARY KEY (product, role)
);

-- The audit (`GET /api/history`) filters every change record by product and channel: the
-- object's own, copied out of its row when the record is written (markers included, so a
-- deletion is found too). Records written before this migration get them from their row.
ALTER TABLE changes ADD COLUMN product TEXT;
ALTER TABLE changes ADD COLUMN channel TEXT;
UPDATE changes
SET product = json_extract(row_data, '$.product'),
    channel = json_extract(row_data, '$.channel')
WHERE row_data IS NOT NULL AND json_valid(row_data)
  AND json_type(row_data, '$.product') = 'text';
CREATE INDEX changes_changed_at_idx ON changes (changed_at);
CREATE INDEX changes_product_idx ON changes (product, channel);
