{#
  The read-only BI role (var bi_role, default omni_bi): created if missing (NOLOGIN: people log in
  with their own roles and are granted omni_bi), given USAGE and SELECT on the BI-facing schemas
  only (var bi_schemas: marts now; quality, replenishment, finance, ops when later issues create
  them). Raw, staging, intermediate and meta stay closed, and are revoked explicitly in case
  someone granted them by hand. A view in a BI schema that selects straight from raw or meta
  (Great Expectations' batch views quality.gx_batch__*) would hand BI the raw rows with its owner's
  rights, so such views are closed too. Runs at the end of every build: dbt recreates views, which
  drops their grants, and new tables must be covered too.

  Reading is all BI may do (docs/contract.md section 5): PUBLIC loses TEMPORARY on the database
  (no temporary tables) and, when the build runs as a superuser (the embedded server), EXECUTE on
  the advisory-lock functions, so that no BI login can take the build's lock and stall it. The
  owner keeps both. On a server where the owner is not a superuser, docs/security.md gives the
  statements for an administrator.
#}
{% macro omni_grant_bi_access() %}
{%- set role = var('bi_role') -%}
{%- set closed_schemas = ['raw', 'staging', 'intermediate', 'meta'] -%}
do $$
declare
    schema_name text;
    passthrough record;
    lock_function record;
begin
    if not exists (select 1 from pg_roles where rolname = '{{ role }}') then
        begin
            create role {{ role }} nologin;
        exception when duplicate_object or unique_violation then
            null;  -- another build created it meanwhile (roles are cluster-wide)
        end;
    end if;
    foreach schema_name in array array[{% for s in var('bi_schemas') %}'{{ s }}'{{ ', ' if not loop.last }}{% endfor %}]::text[] loop
        if exists (select 1 from pg_namespace where nspname = schema_name) then
            execute format('grant usage on schema %I to {{ role }}', schema_name);
            execute format('grant select on all tables in schema %I to {{ role }}', schema_name);
        end if;
    end loop;
    foreach schema_name in array array[{% for s in closed_schemas %}'{{ s }}'{{ ', ' if not loop.last }}{% endfor %}]::text[] loop
        if exists (select 1 from pg_namespace where nspname = schema_name) then
            execute format('revoke all on schema %I from {{ role }}', schema_name);
            execute format('revoke all on all tables in schema %I from {{ role }}', schema_name);
        end if;
    end loop;
    -- only the database's owner may change its grants (on a server of your own, see docs/security.md)
    if exists (
        select 1 from pg_database
        where datname = current_database() and pg_has_role(current_user, datdba, 'member')
    ) then
        execute format('revoke temporary on database %I from public', current_database());
        execute format('grant temporary on database %I to %I', current_database(), current_user);
    end if;
    if (select rolsuper from pg_roles where rolname = current_user) then
        for lock_function in
            select p.oid::regprocedure as signature
            from pg_proc as p
            join pg_namespace as n on n.oid = p.pronamespace
            where n.nspname = 'pg_catalog' and p.proname like 'pg\_%advisory\_%lock%' and p.proname not like '%unlock%'
              and has_function_privilege('public', p.oid, 'execute')
        loop
            execute format('revoke execute on function %s from public', lock_function.signature);
        end loop;
    end if;
    for passthrough in
        select distinct view_schema, view_name
        from information_schema.view_table_usage
        where view_schema = any(array[{% for s in var('bi_schemas') %}'{{ s }}'{{ ', ' if not loop.last }}{% endfor %}]::text[])
          and table_schema in ('raw', 'meta')
    loop
        execute format('revoke all on %I.%I from {{ role }}', passthrough.view_schema, passthrough.view_name);
    end loop;
end
$$;
{% endmacro %}
