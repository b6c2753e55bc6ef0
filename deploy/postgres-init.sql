-- One database per service: no service reads another's tables (DESIGN.md).
CREATE DATABASE silkgate_orders;
CREATE DATABASE silkgate_customs;
CREATE DATABASE silkgate_postal;
-- The sandboxes of the demo profile (docker compose --profile demo): the carrier and the customs authority.
CREATE DATABASE silkgate_carrier;
CREATE DATABASE silkgate_authority;
