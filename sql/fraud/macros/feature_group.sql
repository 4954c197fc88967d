{#
  materialized='feature_group': the model's rows become an fstore feature
  group.
    primary_key  list of key columns (required)
    event_time   the event-time column (required)
    online       true (default) keeps the latest row per key in the online store
  The first run creates the group from the model's query (CREATE FEATURE GROUP
  … AS SELECT, which backfills). Later runs insert only rows whose event time
  is newer than the newest already stored: feature groups are append-only
  histories, so re-running a model never duplicates or rewrites rows.
#}
{% materialization feature_group, adapter='postgres' %}
  {%- set primary_key = config.require('primary_key') -%}
  {%- set keys = [primary_key] if primary_key is string else primary_key -%}
  {%- set event_time = config.require('event_time') -%}
  {%- set online = config.get('online', true) -%}
  {%- set target = this.incorporate(type='table') -%}
  {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}

  {{ run_hooks(pre_hooks) }}

  {% if existing is none or should_full_refresh() %}
    {% if existing is not none %}
      {% call statement('drop_feature_group') -%}
        DROP FEATURE GROUP IF EXISTS {{ target.schema }}.{{ target.identifier }}
      {%- endcall %}
    {% endif %}
    {% call statement('main') -%}
      CREATE FEATURE GROUP {{ target.schema }}.{{ target.identifier }} (
          PRIMARY KEY ({{ keys | join(', ') }}),
          EVENT TIME ({{ event_time }})
      ) {{ 'ONLINE' if online else 'OFFLINE' }}
      {%- if model.description %} COMMENT '{{ model.description | replace("'", "''") }}'{% endif %}
      AS {{ sql }}
    {%- endcall %}
  {% else %}
    {% call statement('main') -%}
      INSERT INTO {{ target.schema }}.{{ target.identifier }}
      SELECT * FROM ({{ sql }}) AS model_rows
      WHERE model_rows.{{ event_time }} > (
          SELECT coalesce(max({{ event_time }}), TIMESTAMP '1677-09-22 00:00:00')
          FROM {{ target.schema }}.{{ target.identifier }}
      )
    {%- endcall %}
  {% endif %}

  {{ run_hooks(post_hooks) }}
  {{ return({'relations': [target]}) }}
{% endmaterialization %}
