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
-- row; returns must match a sales line, not precede it and not exceed its quantity; the roster's
-- rows keep one hire_date per employee and no manager cycle. It reads the layout the sample-data
-- generator writes: org units, products and the roster as CSV, facts as CSV + Parquet.

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
-- People: the roster (CSV only), training records and pulse answers (CSV + Parquet); before the
-- facts, whose salesperson_id and handler_id must name an employee of the roster
-- ------------------------------------------------------------------------------------------
-- Values read as text must have the strict shapes the extractor accepts (DuckDB's casts alone
-- are lenient: '7.5' → 8).
create temp table employees_checked as
with text_rows as (
    select * from read_csv('employees/*.csv', all_varchar = true, header = true, filename = true)
),
typed as (
    select filename, employee_id, name, org_unit_id, manager_id, role,
        case when regexp_full_match(valid_from, '[0-9]{4}-[0-9]{2}-[0-9]{2}') then try_cast(valid_from as date) end
            as valid_from,
        case when regexp_full_match(hire_date, '[0-9]{4}-[0-9]{2}-[0-9]{2}') then try_cast(hire_date as date) end
            as hire_date,
        case when regexp_full_match(leave_date, '[0-9]{4}-[0-9]{2}-[0-9]{2}') then try_cast(leave_date as date) end
            as leave_date,
        leave_date is null as no_leave_date,
        case when regexp_full_match(fte, '[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?')
            then coalesce(try_cast(fte as decimal(18, 4)), try_cast(try_cast(fte as double) as decimal(18, 4))) end
            as fte
    from text_rows
)
select *,
    -- The rules on the row itself, the unit it names and its key's uniqueness within the file; a
    -- manager must be an employee named in some row of the file (checked again below).
    employee_id is not null and valid_from is not null and name is not null and org_unit_id is not null
        and role is not null and hire_date is not null and fte > 0 and fte <= 1
        and (no_leave_date or leave_date >= hire_date)
        and org_unit_id in (select org_unit_id from units)
        and count(*) over (partition by filename, employee_id, valid_from) = 1
        and (manager_id is null or manager_id in (select employee_id from text_rows where employee_id is not null))
        as ok
from typed;

-- One hire_date per employee: that of the employee's earliest valid row (earlier files first).
update employees_checked as e set ok = false
from (
    select employee_id, arg_min(hire_date, (filename, valid_from)) as hire_date
    from employees_checked where ok group by employee_id
) as h
where e.ok and e.employee_id = h.employee_id and e.hire_date <> h.hire_date;

-- No manager cycle on any date a row takes effect, through the rows in effect that day.
update employees_checked as e set ok = false
from (
    with recursive spans as (
        select filename, employee_id, valid_from, manager_id,
            lead(valid_from) over (partition by employee_id order by valid_from) as valid_until
        from employees_checked where ok
    ),
    in_effect as (
        select d.day, r.filename, r.employee_id, r.valid_from, r.manager_id
        from (select distinct valid_from as day from spans) as d
        join spans as r on r.valid_from <= d.day and (r.valid_until is null or d.day < r.valid_until)
        where r.manager_id is not null
    ),
    walk(day, filename, start, start_valid_from, node, path) as (
        select day, filename, employee_id, valid_from, manager_id, [employee_id] from in_effect
        union all
        select w.day, w.filename, w.start, w.start_valid_from, e.manager_id, list_append(w.path, w.node)
        from walk as w join in_effect as e on e.day = w.day and e.employee_id = w.node
        where not list_contains(w.path, w.node)
    )
    select distinct filename, start, start_valid_from from walk where node = start
) as c
where e.ok and e.filename = c.filename and e.employee_id = c.start and e.valid_from = c.start_valid_from;

-- A row whose manager has only rejected rows goes too (the extractor repeats this until nothing
-- changes; three rounds cover manager chains of three rejected links).
update employees_checked set ok = false
where ok and manager_id is not null
  and manager_id not in (select employee_id from employees_checked where ok);
update employees_checked set ok = false
where ok and manager_id is not null
  and manager_id not in (select employee_id from employees_checked where ok);
update employees_checked set ok = false
where ok and manager_id is not null
  and manager_id not in (select employee_id from employees_checked where ok);

-- The roster as the pipeline sees it: each row spans its valid_from to the day before the next;
-- the employee's hire_date is the one they have, their leave_date that of their latest row.
create temp table assignments as
with current_rows as (
    select employee_id, valid_from, org_unit_id, fte, hire_date, leave_date
    from employees_checked where ok
    qualify row_number() over (partition by employee_id, valid_from order by filename desc) = 1
)
select employee_id, valid_from, org_unit_id, fte,
    lead(valid_from) over (partition by employee_id order by valid_from) as next_valid_from,
    min(hire_date) over (partition by employee_id) as hire_date,
    first_value(leave_date) over (
        partition by employee_id order by valid_from desc
        rows between unbounded preceding and unbounded following) as leave_date
from current_rows;

create temp table trainings as
with typed as (
    select filename, training_id, employee_id, course,
        case when regexp_full_match(completed_on, '[0-9]{4}-[0-9]{2}-[0-9]{2}') then try_cast(completed_on as date) end
            as completed_on,
        case when regexp_full_match(hours, '[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?')
            then coalesce(try_cast(hours as decimal(18, 2)), try_cast(try_cast(hours as double) as decimal(18, 2))) end
            as hours
    from read_csv('training_records/*.csv', all_varchar = true, header = true, filename = true)
    union all
    select filename, training_id, employee_id, course, completed_on, hours
    from read_parquet('training_records/*.parquet', filename = true)
)
select training_id, employee_id, completed_on, hours
from typed
where training_id is not null and employee_id is not null and course is not null and completed_on is not null
  and hours > 0 and hours <= 200
  and employee_id in (select employee_id from assignments)
  and training_id not in (select training_id from typed group by filename, training_id having count(*) > 1)
qualify row_number() over (partition by training_id order by filename desc) = 1;

create temp table engagement as
with typed as (
    select filename, response_id, org_unit_id,
        case when regexp_full_match(response_date, '[0-9]{4}-[0-9]{2}-[0-9]{2}') then try_cast(response_date as date) end
            as response_date,
        case when regexp_full_match(enps_score, '[+-]?[0-9]+(\.0*)?') then try_cast(split_part(enps_score, '.', 1) as bigint) end
            as enps_score
    from read_csv('engagement_surveys/*.csv', all_varchar = true, header = true, filename = true)
    union all
    select filename, response_id, org_unit_id, response_date, enps_score
    from read_parquet('engagement_surveys/*.parquet', filename = true)
)
select response_id, response_date, org_unit_id, enps_score
from typed
where response_id is not null and response_date is not null and enps_score between 0 and 10
  and org_unit_id in (select org_unit_id from units)
  and response_id not in (select response_id from typed group by filename, response_id having count(*) > 1)
qualify row_number() over (partition by response_id order by filename desc) = 1;

-- ------------------------------------------------------------------------------------------
-- Facts: CSV read as text and cast (a value that does not cast drops the row), Parquet typed
-- ------------------------------------------------------------------------------------------
create temp table sales as
with text_rows as (
    select * from read_csv('sales_lines/*.csv', all_varchar = true, header = true, filename = true)
),
typed as (
    select filename, order_id, customer_id, org_unit_id, sku, salesperson_id,
        try_cast(line_no as bigint) as line_no, try_cast(order_date as date) as order_date,
        try_cast(quantity as bigint) as quantity, try_cast(unit_price as decimal(18, 4)) as unit_price,
        coalesce(try_cast(discount_amount as decimal(18, 4)), 0) as discount_amount,
        try_cast(unit_cost as decimal(18, 4)) as unit_cost,
        (discount_amount is null or try_cast(discount_amount as decimal(18, 4)) is not null) as discount_ok
    from text_rows
    union all
    select filename, order_id, customer_id, org_unit_id, sku, salesperson_id, line_no, order_date, quantity,
        unit_price, coalesce(discount_amount, 0), unit_cost, true
    from read_parquet('sales_lines/*.parquet', filename = true)
),
valid as (
    select * from typed
    where order_id is not null and line_no >= 1 and order_date is not null and quantity > 0
      and unit_price >= 0 and discount_ok and discount_amount >= 0 and unit_cost >= 0
      and org_unit_id in (select org_unit_id from units) and sku in (select sku from products)
      and (salesperson_id is null or salesperson_id in (select employee_id from assignments))
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
    select filename, complaint_id, org_unit_id, category, handler_id,
        try_cast(opened_at as timestamp) as opened_at, try_cast(resolved_at as timestamp) as resolved_at,
        (resolved_at is null or try_cast(resolved_at as timestamp) is not null) as resolved_ok
    from read_csv('complaints/*.csv', all_varchar = true, header = true, filename = true)
    union all
    select filename, complaint_id, org_unit_id, category, handler_id, opened_at, resolved_at, true
    from read_parquet('complaints/*.parquet', filename = true)
)
select complaint_id, org_unit_id, opened_at, resolved_at
from typed
where complaint_id is not null and opened_at is not null and category is not null and resolved_ok
  and coalesce(resolved_at >= opened_at, true)
  and org_unit_id in (select org_unit_id from units)
  and (handler_id is null or handler_id in (select employee_id from assignments))
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

-- The roster in effect per calendar day (the pipeline's calendar: whole years) for the employees
-- active that day, with month, quarter and year ends marked and whether the employee completed
-- a training in the 365 days ending that day.
create temp table employee_days as
with calendar as (
    select cast(unnest(generate_series(min(period_start), max(period_start) + interval 1 year - interval 1 day,
        interval 1 day)) as date) as day
    from periods where grain = 'year'
)
select a.employee_id, d.day, a.org_unit_id, a.fte,
    extract(day from d.day + interval 1 day) = 1 as is_month_end,
    extract(day from d.day + interval 1 day) = 1 and extract(month from d.day) in (3, 6, 9, 12) as is_quarter_end,
    extract(day from d.day + interval 1 day) = 1 and extract(month from d.day) = 12 as is_year_end
from assignments as a
join calendar as d on d.day >= a.valid_from and (a.next_valid_from is null or d.day < a.next_valid_from)
where d.day >= a.hire_date and (a.leave_date is null or d.day <= a.leave_date);

create temp table employee_days_daily as
with trained as (
    select distinct e.employee_id, e.day
    from employee_days as e
    join trainings as t on t.employee_id = e.employee_id
        and t.completed_on <= e.day and t.completed_on >= e.day - interval 364 day
    where e.is_month_end
),
marked as (
    select e.*, t.employee_id is not null as trained
    from employee_days as e left join trained as t on t.employee_id = e.employee_id and t.day = e.day
)
select org_unit_id, day, sum(fte) as fte_days, count(*) as headcount_days,
    count(*) filter (where is_month_end) as staff_month_end,
    count(*) filter (where is_quarter_end) as staff_quarter_end,
    count(*) filter (where is_year_end) as staff_year_end,
    count(*) filter (where is_month_end and trained) as trained_month_end,
    count(*) filter (where is_quarter_end and trained) as trained_quarter_end,
    count(*) filter (where is_year_end and trained) as trained_year_end
from marked group by all;

-- A training counts at the unit of the employee's row in effect on completed_on (active or not).
create temp table trainings_daily as
select a.org_unit_id, t.completed_on as day, sum(t.hours) as training_hours
from trainings as t
join assignments as a on a.employee_id = t.employee_id and a.valid_from <= t.completed_on
    and (a.next_valid_from is null or t.completed_on < a.next_valid_from)
group by all;

create temp table leavers_daily as
select e.org_unit_id, e.day, count(*) as leavers
from (select distinct employee_id, leave_date from assignments where leave_date is not null) as l
join employee_days as e on e.employee_id = l.employee_id and e.day = l.leave_date
group by all;

create temp table engagement_daily as
select org_unit_id, response_date as day, count(*) as engagement_responses,
    count(*) filter (where enps_score >= 9) as engagement_promoters,
    count(*) filter (where enps_score <= 6) as engagement_detractors
from engagement group by all;

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
    union all by name select * from employee_days_daily
    union all by name select * from trainings_daily
    union all by name select * from leavers_daily
    union all by name select * from engagement_daily
),
sums as (
    select c.ancestor_id as org_unit_id, g.grain, cast(date_trunc(g.grain, d.day) as date) as period_start,
        sum(gross_sales) as gross_sales, sum(cogs) as cogs, sum(sold_quantity) as sold_quantity,
        sum(refunds) as refunds, sum(returned_cogs) as returned_cogs, sum(returned_quantity) as returned_quantity,
        sum(inventory_value_total) as inventory_value_total, sum(snapshot_rows) as snapshot_rows,
        sum(stockout_rows) as stockout_rows, sum(nps_responses) as nps_responses, sum(promoters) as promoters,
        sum(detractors) as detractors, sum(csat_responses) as csat_responses,
        sum(satisfied_responses) as satisfied_responses, sum(complaints_opened) as complaints_opened,
        sum(complaints_resolved_48h) as complaints_resolved_48h, sum(first_orders) as first_orders,
        sum(fte_days) as fte_days, sum(headcount_days) as headcount_days,
        sum(training_hours) as training_hours, sum(leavers) as leavers,
        -- Staff on the period's last day: the month's, quarter's or year's end for the grain.
        sum(case g.grain when 'month' then staff_month_end when 'quarter' then staff_quarter_end
            else staff_year_end end) as staff_at_period_end,
        sum(case g.grain when 'month' then trained_month_end when 'quarter' then trained_quarter_end
            else trained_year_end end) as trained_staff_at_period_end,
        sum(engagement_responses) as engagement_responses, sum(engagement_promoters) as engagement_promoters,
        sum(engagement_detractors) as engagement_detractors
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
    coalesce(s.training_hours, 0) as training_hours, coalesce(s.leavers, 0) as leavers,
    coalesce(s.staff_at_period_end, 0) as staff_at_period_end,
    coalesce(s.trained_staff_at_period_end, 0) as trained_staff_at_period_end,
    coalesce(s.engagement_responses, 0) as engagement_responses,
    coalesce(s.engagement_promoters, 0) as engagement_promoters,
    coalesce(s.engagement_detractors, 0) as engagement_detractors,
    cast(coalesce(s.fte_days, 0) as double) / p.days_in_period as average_fte,
    cast(coalesce(s.headcount_days, 0) as double) / p.days_in_period as average_headcount,
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
        100 * complaints_resolved_48h::double / nullif(complaints_opened, 0), null),
    ('revenue_per_fte', net_revenue, average_fte, net_revenue::double / nullif(average_fte, 0), null),
    ('training_hours_per_fte', training_hours, average_fte, training_hours::double / nullif(average_fte, 0), null),
    ('staff_turnover_pct', leavers, average_headcount, 100 * leavers::double / nullif(average_headcount, 0), null),
    ('trained_staff_pct', trained_staff_at_period_end, staff_at_period_end,
        100 * trained_staff_at_period_end::double / nullif(staff_at_period_end, 0), null),
    ('enps', engagement_promoters - engagement_detractors, engagement_responses,
        100 * (engagement_promoters - engagement_detractors)::double / nullif(engagement_responses, 0), 10)
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
