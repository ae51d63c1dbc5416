#!/bin/bash
# QuantumLeap's database and role, created once by the PostgreSQL image's entrypoint (it runs
# /docker-entrypoint-initdb.d/* on an empty data directory only). QuantumLeap creates its own
# schemas and tables; the extensions let it make hypertables and geometry columns.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v role="$QUANTUMLEAP_DB_USER" -v password="$QUANTUMLEAP_DB_PASSWORD" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE quantumleap OWNER :"role";
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname quantumleap <<'SQL'
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE EXTENSION IF NOT EXISTS postgis;
SQL
