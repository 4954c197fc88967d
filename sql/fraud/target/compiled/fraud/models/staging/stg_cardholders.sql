select
    cast(cc_num as bigint) as cc_num,
    cast(updated_at as timestamp) as updated_at,
    2026 - cast(birth_year as integer) as age,
    home_state
from "fstore"."public"."raw_cardholders"