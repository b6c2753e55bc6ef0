-- One database per service: no service reads another's tables (DESIGN.md).
CREATE DATABASE silkgate_orders;
CREATE DATABASE silkgate_customs;
CREATE DATABASE silkgate_postal;
