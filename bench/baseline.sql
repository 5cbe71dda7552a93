-- The benchmark's baseline: every KPI of kpi_definitions/, for every org unit (its whole subtree)
-- and every month, quarter and year, computed by hand in one DuckDB script straight from the
-- landing files. No orchestration, no audit trail, no quality gate, no publication.
--
-- Run it with the landing folder as the working directory (bench/run.py does), e.g.
--   cd landing && duckdb < ../bench/baseline.sql     or python duckdb: con.execute(script)
-- It leaves the result in the table kpi_values (same columns as the pipeline's kpi.kpi_values).
--
-- It applies the data contract's validity rules in plain SQL (docs/data_contract.md), so that it
-- computes over the same rows the pipeline loads: bad values, unknown references and keys
-- repeated within one file are dropped; a key delivered again in a later file replaces the earlier
-- row; returns must match a sales line, not precede it and not exceed its quantity. It reads the
-- layout the sample-data generator writes: org units and products as CSV, facts as CSV + Parquet.

-- ------------------------------------------------------------------------------------------
-- Reference data
-- ------------------------------------------------------------------------------------------
create temp table org_units_in as
select org_unit_id, parent_id, unit_type, name,
    count(*) over (partition by filename, org_unit_id) as copies_in_file
from read_csv('org_units/*.csv', all_varchar = true, header = true, filename = true);

-- Valid units are those reachable from the root; the closure pairs every unit with its ancestors.
create temp table units as
with recursive tree(org_unit_id) as (
    select org_unit_id from org_units_in
    where parent_id is null and org_unit_id is not null and name is not null and copies_in_file = 1
    union all
    select o.org_unit_id from org_units_in as o join tree on o.parent_id = tree.org_unit_id
    where o.name is not null and o.copies_in_file = 1 and o.org_unit_id <> o.parent_id
      and o.unit_type in ('company', 'region', 'store', 'warehouse', 'department', 'other')
)
select distinct org_unit_id from tree;

create temp table closure as
with recursive walk(ancestor_id, org_unit_id) as (
    select org_unit_id, org_unit_id from units
    union all
    select walk.ancestor_id, o.org_unit_id
    from walk join org_units_in as o on o.parent_id = walk.org_unit_id
    where o.org_unit_id in (select org_unit_id from units)
)
select distinct ancestor_id, org_unit_id from walk;

create temp table products as
select sku from read_csv('products/*.csv', all_varchar = true, header = true, filename = true)
where sku is not null and name is not null and category is not null
qualify count(*) over (partition by filename, sku) = 1;

-- ------------------------------------------------------------------------------------------
-- Facts: CSV read as text and cast (a value that does not cast drops the row), Parquet typed
-- ------------------------------------------------------------------------------------------
create temp table sales as
with text_rows as (
    select * from read_csv('sales_lines/*.csv', all_varchar = true, header = true, filename = true)
),
typed as (
    select filename, order_id, customer_id, org_unit_id, sku,
        try_cast(line_no as bigint) as line_no, try_cast(order_date as date) as order_date,
        try_cast(quantity as bigint) as quantity, try_cast(unit_price as decimal(18, 4)) as unit_price,
        coalesce(try_cast(discount_amount as decimal(18, 4)), 0) as discount_amount,
        try_cast(unit_cost as decimal(18, 4)) as unit_cost,
        (discount_amount is null or try_cast(discount_amount as decimal(18, 4)) is not null) as discount_ok
    from text_rows
    union all
    select filename, order_id, customer_id, org_unit_id, sku, line_no, order_date, quantity,
        unit_price, coalesce(discount_amount, 0), unit_cost, true
    from read_parquet('sales_lines/*.parquet', filename = true)
),
valid as (
    select * from typed
    where order_id is not null and line_no >= 1 and order_date is not null and quantity > 0
      and unit_price >= 0 and discount_ok and discount_amount >= 0 and unit_cost >= 0
      and org_unit_id in (select org_unit_id from units) and sku in (select sku from products)
      and (order_id, line_no) not in (
          select (order_id, line_no) from typed group by filename, order_id, line_no having count(*) > 1)
)
select order_id, line_no, order_date, customer_id, org_unit_id, quantity, unit_price, discount_amount, unit_cost
from valid
qualify row_number() over (partition by order_id, line_no order by filename desc) = 1;

create temp table returns as
with typed as (
    select filename, return_id, order_id, try_cast(line_no as bigint) as line_no,
        try_cast(return_date as date) as return_date, try_cast(quantity as bigint) as quantity,
        try_cast(refund_amount as decimal(18, 4)) as refund_amount
    from read_csv('returns/*.csv', all_varchar = true, header = true, filename = true)
    union all
    select filename, return_id, order_id, line_no, return_date, quantity, refund_amount
    from read_parquet('returns/*.parquet', filename = true)
),
matched as (
    select r.*, s.org_unit_id, s.unit_cost, s.quantity as sold_quantity
    from typed as r
    join sales as s on s.order_id = r.order_id and s.line_no = r.line_no
    where r.return_id is not null and r.return_date >= s.order_date and r.quantity > 0
      and r.refund_amount >= 0
      and r.return_id not in (select return_id from typed group by filename, return_id having count(*) > 1)
)
-- Returns of a line count in file order, then by date and id; the ones that push past the sold
-- quantity are dropped.
select return_id, return_date, org_unit_id, quantity, refund_amount, unit_cost
from matched
qualify sum(quantity) over (
    partition by order_id, line_no order by filename, return_date, return_id
    rows between unbounded preceding and current row) <= sold_quantity;

create temp table inventory as
with typed as (
    select filename, org_unit_id, sku, try_cast(snapshot_date as date) as snapshot_date,
        try_cast(on_hand_qty as bigint) as on_hand_qty, try_cast(unit_cost as decimal(18, 4)) as unit_cost
    from read_csv('inventory_snapshots/*.csv', all_varchar = true, header = true, filename = true)
    union all
    select filename, org_unit_id, sku, snapshot_date, on_hand_qty, unit_cost
    from read_parquet('inventory_snapshots/*.parquet', filename = true)
)
select snapshot_date, org_unit_id, on_hand_qty, unit_cost
from typed
where snapshot_date is not null and on_hand_qty >= 0 and unit_cost >= 0
  and org_unit_id in (select org_unit_id from units) and sku in (select sku from products)
  and (snapshot_date, org_unit_id, sku) not in (
      select (snapshot_date, org_unit_id, sku) from typed
      group by filename, snapshot_date, org_unit_id, sku having count(*) > 1)
qualify row_number() over (partition by snapshot_date, org_unit_id, sku order by filename desc) = 1;

create temp table surveys as
with typed as (
    select filename, response_id, org_unit_id, try_cast(response_date as date) as response_date,
        try_cast(nps_score as bigint) as nps_score, try_cast(csat_score as bigint) as csat_score,
        (nps_score is null or try_cast(nps_score as bigint) is not null)
            and (csat_score is null or try_cast(csat_score as bigint) is not null) as scores_ok
    from read_csv('survey_responses/*.csv', all_varchar = true, header = true, filename = true)
    union all
    select filename, response_id, org_unit_id, response_date, nps_score, csat_score, true
    from read_parquet('survey_responses/*.parquet', filename = true)
)
select response_id, response_date, org_unit_id, nps_score, csat_score
from typed
where response_id is not null and response_date is not null and scores_ok
  and (nps_score is not null or csat_score is not null)
  and coalesce(nps_score between 0 and 10, true) and coalesce(csat_score between 1 and 5, true)
  and org_unit_id in (select org_unit_id from units)
  and response_id not in (select response_id from typed group by filename, response_id having count(*) > 1)
qualify row_number() over (partition by response_id order by filename desc) = 1;

create temp table complaints as
with typed as (
    select filename, complaint_id, org_unit_id, category,
        try_cast(opened_at as timestamp) as opened_at, try_cast(resolved_at as timestamp) as resolved_at,
        (resolved_at is null or try_cast(resolved_at as timestamp) is not null) as resolved_ok
    from read_csv('complaints/*.csv', all_varchar = true, header = true, filename = true)
    union all
    select filename, complaint_id, org_unit_id, category, opened_at, resolved_at, true
    from read_parquet('complaints/*.parquet', filename = true)
)
select complaint_id, org_unit_id, opened_at, resolved_at
from typed
where complaint_id is not null and opened_at is not null and category is not null and resolved_ok
  and coalesce(resolved_at >= opened_at, true)
  and org_unit_id in (select org_unit_id from units)
  and complaint_id not in (select complaint_id from typed group by filename, complaint_id having count(*) > 1)
qualify row_number() over (partition by complaint_id order by filename desc) = 1;

-- ------------------------------------------------------------------------------------------
-- Periods: every month, quarter and year from the first to the last month with sales
-- ------------------------------------------------------------------------------------------
create temp table grains as select * from (values ('month'), ('quarter'), ('year')) as g(grain);

create temp table periods as
with bounds as (
    select date_trunc('year', min(order_date)) as first_day,
        date_trunc('year', max(order_date)) + interval 1 year as end_day,
        date_trunc('month', min(order_date)) as first_month, date_trunc('month', max(order_date)) as last_month
    from sales
),
days as (
    select cast(unnest(generate_series(first_day, end_day - interval 1 day, interval 1 day)) as date) as day
    from bounds
)
select grain, cast(date_trunc(grain, day) as date) as period_start, count(*) as days_in_period
from days cross join grains
group by all
having max(day) >= (select first_month from bounds) and cast(date_trunc(grain, day) as date) <= (select last_month from bounds);

-- ------------------------------------------------------------------------------------------
-- Measures per org unit (whole subtree) and period: sums pre-aggregated per unit and day
-- ------------------------------------------------------------------------------------------
create temp table first_orders as
with orders as (
    select customer_id, order_id, min(order_date) as order_date, min(org_unit_id) as org_unit_id
    from sales where customer_id is not null group by all
)
select customer_id, order_date as first_order_date, org_unit_id
from orders
qualify row_number() over (partition by customer_id order by order_date, order_id) = 1;

create temp table sales_daily as
select org_unit_id, order_date as day, sum(quantity * unit_price - discount_amount) as gross_sales,
    sum(quantity * unit_cost) as cogs, sum(quantity) as sold_quantity
from sales group by all;

create temp table returns_daily as
select org_unit_id, return_date as day, sum(refund_amount) as refunds,
    sum(quantity * unit_cost) as returned_cogs, sum(quantity) as returned_quantity
from returns group by all;

create temp table inventory_daily as
select org_unit_id, snapshot_date as day, sum(on_hand_qty * unit_cost) as inventory_value_total,
    count(*) as snapshot_rows, count(*) filter (where on_hand_qty = 0) as stockout_rows
from inventory group by all;

create temp table surveys_daily as
select org_unit_id, response_date as day,
    count(nps_score) as nps_responses, count(*) filter (where nps_score >= 9) as promoters,
    count(*) filter (where nps_score <= 6) as detractors, count(csat_score) as csat_responses,
    count(*) filter (where csat_score >= 4) as satisfied_responses
from surveys group by all;

create temp table complaints_daily as
select org_unit_id, cast(opened_at as date) as day, count(*) as complaints_opened,
    count(*) filter (where resolved_at <= opened_at + interval 48 hour) as complaints_resolved_48h
from complaints group by all;

create temp table new_customers_daily as
select org_unit_id, first_order_date as day, count(*) as first_orders from first_orders group by all;

-- Daily sums rolled up to every ancestor and period.
create temp table measures as
with daily as (
    select org_unit_id, day, gross_sales, cogs, sold_quantity,
        null::decimal(38, 4) as refunds, null::decimal(38, 4) as returned_cogs, null::hugeint as returned_quantity,
        null::decimal(38, 4) as inventory_value_total, null::bigint as snapshot_rows, null::bigint as stockout_rows,
        null::bigint as nps_responses, null::bigint as promoters, null::bigint as detractors,
        null::bigint as csat_responses, null::bigint as satisfied_responses,
        null::bigint as complaints_opened, null::bigint as complaints_resolved_48h, null::bigint as first_orders
    from sales_daily
    union all by name select * from returns_daily
    union all by name select * from inventory_daily
    union all by name select * from surveys_daily
    union all by name select * from complaints_daily
    union all by name select * from new_customers_daily
),
sums as (
    select c.ancestor_id as org_unit_id, g.grain, cast(date_trunc(g.grain, d.day) as date) as period_start,
        sum(gross_sales) as gross_sales, sum(cogs) as cogs, sum(sold_quantity) as sold_quantity,
        sum(refunds) as refunds, sum(returned_cogs) as returned_cogs, sum(returned_quantity) as returned_quantity,
        sum(inventory_value_total) as inventory_value_total, sum(snapshot_rows) as snapshot_rows,
        sum(stockout_rows) as stockout_rows, sum(nps_responses) as nps_responses, sum(promoters) as promoters,
        sum(detractors) as detractors, sum(csat_responses) as csat_responses,
        sum(satisfied_responses) as satisfied_responses, sum(complaints_opened) as complaints_opened,
        sum(complaints_resolved_48h) as complaints_resolved_48h, sum(first_orders) as first_orders
    from daily as d
    join closure as c on c.org_unit_id = d.org_unit_id
    cross join grains as g
    group by all
),
-- Distinct counts cannot be added up from days or children: counted from the rows per period.
distinct_counts as (
    select c.ancestor_id as org_unit_id, g.grain, cast(date_trunc(g.grain, s.order_date) as date) as period_start,
        count(distinct s.order_id) as orders, count(distinct s.customer_id) as active_customers,
        count(distinct case when f.first_order_date < date_trunc(g.grain, s.order_date) then s.customer_id end)
            as repeat_customers
    from sales as s
    left join first_orders as f on f.customer_id = s.customer_id
    join closure as c on c.org_unit_id = s.org_unit_id
    cross join grains as g
    group by all
),
snapshot_dates as (
    select c.ancestor_id as org_unit_id, g.grain, cast(date_trunc(g.grain, i.snapshot_date) as date) as period_start,
        count(distinct i.snapshot_date) as snapshot_dates
    from (select distinct org_unit_id, snapshot_date from inventory) as i
    join closure as c on c.org_unit_id = i.org_unit_id
    cross join grains as g
    group by all
)
select u.org_unit_id, p.grain, p.period_start, p.days_in_period,
    coalesce(s.gross_sales, 0) as gross_sales, coalesce(s.cogs, 0) as cogs,
    coalesce(s.sold_quantity, 0) as sold_quantity, coalesce(s.refunds, 0) as refunds,
    coalesce(s.returned_cogs, 0) as returned_cogs, coalesce(s.returned_quantity, 0) as returned_quantity,
    coalesce(s.inventory_value_total, 0) as inventory_value_total, coalesce(s.snapshot_rows, 0) as snapshot_rows,
    coalesce(s.stockout_rows, 0) as stockout_rows, coalesce(s.nps_responses, 0) as nps_responses,
    coalesce(s.promoters, 0) as promoters, coalesce(s.detractors, 0) as detractors,
    coalesce(s.csat_responses, 0) as csat_responses, coalesce(s.satisfied_responses, 0) as satisfied_responses,
    coalesce(s.complaints_opened, 0) as complaints_opened,
    coalesce(s.complaints_resolved_48h, 0) as complaints_resolved_48h, coalesce(s.first_orders, 0) as first_orders,
    coalesce(d.orders, 0) as orders, coalesce(d.active_customers, 0) as active_customers,
    coalesce(d.repeat_customers, 0) as repeat_customers, coalesce(sd.snapshot_dates, 0) as snapshot_dates,
    coalesce(s.gross_sales, 0) - coalesce(s.refunds, 0) as net_revenue,
    coalesce(s.cogs, 0) - coalesce(s.returned_cogs, 0) as net_cogs,
    cast(coalesce(s.inventory_value_total, 0) as double) / nullif(coalesce(sd.snapshot_dates, 0), 0)
        as average_inventory_value
from units as u
cross join periods as p
left join sums as s on s.org_unit_id = u.org_unit_id and s.grain = p.grain and s.period_start = p.period_start
left join distinct_counts as d
    on d.org_unit_id = u.org_unit_id and d.grain = p.grain and d.period_start = p.period_start
left join snapshot_dates as sd
    on sd.org_unit_id = u.org_unit_id and sd.grain = p.grain and sd.period_start = p.period_start;

-- ------------------------------------------------------------------------------------------
-- The KPIs (formulas as in kpi_definitions/metrics/*.yml)
-- ------------------------------------------------------------------------------------------
create temp table kpi_parts as
with m as (
    select m.*, prior.net_revenue as prior_net_revenue
    from measures as m
    left join measures as prior
        on prior.org_unit_id = m.org_unit_id and prior.grain = m.grain
        and prior.period_start = cast(m.period_start - interval 1 year as date)
)
select org_unit_id, grain, period_start, kpi_id, numerator::double as numerator,
    denominator::double as denominator, value::double as value, min_sample
from m, lateral (values
    ('net_revenue', net_revenue, null, net_revenue, null),
    ('gross_margin_pct', net_revenue - net_cogs, net_revenue,
        100 * (net_revenue - net_cogs)::double / nullif(net_revenue, 0)::double, null),
    ('average_order_value', gross_sales, orders, gross_sales::double / nullif(orders, 0), null),
    ('revenue_growth_yoy_pct', net_revenue, prior_net_revenue,
        100 * (net_revenue / nullif(prior_net_revenue, 0) - 1), null),
    ('nps', promoters - detractors, nps_responses,
        100 * (promoters - detractors)::double / nullif(nps_responses, 0), 30),
    ('csat_pct', satisfied_responses, csat_responses,
        100 * satisfied_responses::double / nullif(csat_responses, 0), 30),
    ('complaints_per_1k_orders', complaints_opened, orders, 1000 * complaints_opened::double / nullif(orders, 0), null),
    ('new_customers', first_orders, null, first_orders, null),
    ('repeat_customer_rate_pct', repeat_customers, active_customers,
        100 * repeat_customers::double / nullif(active_customers, 0), null),
    ('inventory_turnover', net_cogs, average_inventory_value,
        net_cogs::double / nullif(average_inventory_value, 0), null),
    ('days_of_inventory', average_inventory_value * days_in_period, net_cogs,
        case when net_cogs > 0 then average_inventory_value * days_in_period / net_cogs::double end, null),
    ('stockout_rate_pct', stockout_rows, snapshot_rows, 100 * stockout_rows::double / nullif(snapshot_rows, 0), null),
    ('return_rate_pct', returned_quantity, sold_quantity,
        100 * returned_quantity::double / nullif(sold_quantity, 0), null),
    ('complaint_resolution_48h_pct', complaints_resolved_48h, complaints_opened,
        100 * complaints_resolved_48h::double / nullif(complaints_opened, 0), null)
) as k(kpi_id, numerator, denominator, value, min_sample);

create temp table kpi_values as
select kpi_id, grain as period_grain, period_start, org_unit_id, value, numerator, denominator,
    case when min_sample is not null then denominator::bigint end as sample_size,
    case
        when value is null then 'no_data'
        when min_sample is not null and coalesce(denominator, 0) < min_sample then 'low_sample'
        else 'ok'
    end as value_status
from kpi_parts;
