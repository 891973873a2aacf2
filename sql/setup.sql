--
-- Set-up for "make installcheck TXGUARD_RUNNING=1" against a running server
-- that preloads txguard.
--
CREATE EXTENSION txguard;
