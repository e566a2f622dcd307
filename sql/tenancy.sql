-- Casinos (SPEC section 14): what needs the functions of src/casinos.rs.

-- A changed casino setting reaches every session's kept copy at its next
-- transaction.
CREATE TRIGGER casino_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.casino
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty.casino_changed();
ALTER TABLE loyalty.casino ENABLE ALWAYS TRIGGER casino_changed;

-- A row inserted without naming its casino belongs to the session's casino
-- (the bound one, else the default casino): a single-casino DBA's
-- INSERT INTO loyalty.staff_permission (staff_id, capabilities) and a
-- restored 0.1.0 dump work unchanged.
ALTER TABLE loyalty.tier ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.player_loyalty ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.promotion_campaign ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.loyalty_ledger ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.staff_permission ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.velocity_usage ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.rating_slip_accrual ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.accrual_resolution ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.reconciliation ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.point_hold ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.point_lot ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();
ALTER TABLE loyalty.lot_consumption ALTER COLUMN casino_id SET DEFAULT loyalty.current_casino_id();

-- Row-level security for direct reads and the admin's edits.  The write
-- functions run as the extension's owner and apply the same rule
-- themselves.  A session bound to a casino (loyalty.session_casino_id, or
-- a staff token's casino claim) reads only that casino's rows; an unbound
-- one (a group auditor) reads every casino's.  Edits by the admin role
-- apply to the session's casino, else the default one.
DO $policies$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['casino', 'tier', 'player_loyalty', 'promotion_campaign', 'loyalty_ledger',
                             'staff_permission', 'velocity_usage', 'rating_slip_accrual',
                             'accrual_resolution', 'reconciliation', 'point_hold', 'point_lot',
                             'lot_consumption', 'point_value_history']
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE loyalty.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY casino_read ON loyalty.%I FOR SELECT '
            'USING (casino_id = COALESCE((SELECT loyalty.casino_scope()), casino_id))', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['casino', 'tier', 'promotion_campaign', 'staff_permission']
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE POLICY casino_write ON loyalty.%I '
            'USING (casino_id = (SELECT loyalty.current_casino_id())) '
            'WITH CHECK (casino_id = (SELECT loyalty.current_casino_id()))', t);
    END LOOP;
END
$policies$;

-- Login-role capabilities are the group's (login roles are cluster-wide):
-- every admin reads them, only one bound to no casino (or a superuser)
-- changes them, so that a casino's admin cannot give or take another
-- casino's application its rights.
ALTER TABLE loyalty.role_permission ENABLE ROW LEVEL SECURITY;
CREATE POLICY group_read ON loyalty.role_permission FOR SELECT USING (true);
CREATE POLICY group_write ON loyalty.role_permission
    USING ((SELECT loyalty.casino_scope()) IS NULL)
    WITH CHECK ((SELECT loyalty.casino_scope()) IS NULL);
