-- Sticky rollouts (a shiplog extension of Balrog's rule): where a rule finds the client
-- identifier its background-rate roll is derived from, `query:NAME` or `header:NAME`; NULL keeps
-- Balrog's random roll. The domain checks the name's grammar; the CHECK keeps the two kinds.
ALTER TABLE rules ADD COLUMN sticky_by TEXT
    CHECK (sticky_by IS NULL OR sticky_by LIKE 'query:_%' OR sticky_by LIKE 'header:_%');
