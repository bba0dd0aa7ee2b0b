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
