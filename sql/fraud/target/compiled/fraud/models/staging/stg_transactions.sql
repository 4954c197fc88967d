select
    cast(tx_id as bigint) as tx_id,
    cast(cc_num as bigint) as cc_num,
    cast(trans_ts as timestamp) as trans_ts,
    cast(amount as double precision) as amount,
    lower(merchant_category) as category,
    cast(is_fraud as boolean) as is_fraud
from "fstore"."public"."raw_transactions"