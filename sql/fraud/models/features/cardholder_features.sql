{{ config(materialized='feature_group', primary_key=['cc_num'], event_time='updated_at', online=true) }}
select cc_num, updated_at, age, home_state
from {{ ref('stg_cardholders') }}
