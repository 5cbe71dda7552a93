"""The contract's rules as SQL: the typed value of every column, the reason a value or a row
breaks a rule (text, or NULL), and the rules that look across rows (parent and manager cycles, an
employee's one hire_date, returns beyond the sold quantity, references to rejected rows), applied to the temp table `_checked`
(docs/data_contract.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from dagster_project.contract import Column, Entity, format_number
from dagster_project.contract.window import DateWindow
from dagster_project.extract.staging import sql_string

# Strict shapes for values read as text (DuckDB's casts alone are lenient: '3.5' → 4, '2025-1-5' → date).
_INTEGER_PATTERN = r"[+-]?[0-9]+(\.0*)?"
_DECIMAL_PATTERN = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
_DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIMESTAMP_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
_TYPE_WORDS = {
    "integer": "a whole number",
    "decimal": "a number",
    "date": "a date (YYYY-MM-DD)",
    "timestamp": "a timestamp (YYYY-MM-DD HH:MM:SS)",
}


@dataclass(frozen=True)
class PlausibleDates:
    """A window with today fixed for one load, so every file of it is judged by the same bounds."""

    earliest: date
    latest: date

    @classmethod
    def of(cls, window: DateWindow) -> PlausibleDates:
        return cls(window.earliest, window.latest())


def typed_expression(column: Column) -> str:
    c = column.name
    match column.type:
        case "text":
            return c
        case "integer":
            return (
                f"case when regexp_full_match({c}, '{_INTEGER_PATTERN}') "
                f"then try_cast(split_part({c}, '.', 1) as bigint) end"
            )
        case "decimal":
            return (
                f"case when regexp_full_match({c}, '{_DECIMAL_PATTERN}') then coalesce("
                f"try_cast({c} as {column.sql_type}), try_cast(try_cast({c} as double) as {column.sql_type})) end"
            )
        case "date":
            return f"case when regexp_full_match({c}, '{_DATE_PATTERN}') then try_cast({c} as date) end"
        case "timestamp":
            return (
                f"case when regexp_full_match({c}, '{_TIMESTAMP_PATTERN}') "
                f"then try_cast(replace({c}, 'T', ' ') as timestamp) end"
            )
    raise ValueError(f"unknown column type {column.type!r}")


def _quoted_value(column: str) -> str:
    return f"'''' || {column} || ''''"


def column_reasons(column: Column, entity: Entity, dates: PlausibleDates) -> list[str]:
    """SQL expressions that give a reason (text) when the value breaks a rule, else NULL."""
    c, typed = column.name, f"{column.name}__typed"
    reasons = []
    if column.required:
        reasons.append(f"case when {c} is null then 'missing required field {c}' end")
    if column.type != "text":
        reasons.append(
            f"case when {c} is not null and {typed} is null then "
            f"'{c} is not {_TYPE_WORDS[column.type]}: ' || {_quoted_value(c)} end"
        )
    if column.min is not None:
        operator, words = (">", "greater than") if column.min_exclusive else (">=", "at least")
        reasons.append(
            f"case when {typed} is not null and not ({typed} {operator} {column.min}) then "
            f"'{c} must be {words} {format_number(column.min)}: ' || {c} end"
        )
    if column.max is not None:
        reasons.append(
            f"case when {typed} is not null and {typed} > {column.max} then "
            f"'{c} must be at most {format_number(column.max)}: ' || {c} end"
        )
    if column.type in ("date", "timestamp"):
        day = f"cast({typed} as date)"
        earliest, latest = dates.earliest.isoformat(), dates.latest.isoformat()
        too_early = "false" if column.only_latest_bounded else f"{day} < date '{earliest}'"
        reasons.append(
            f"case when {typed} is not null and ({too_early} or {day} > date '{latest}') then "
            f"'{c} ' || {c} || ' is outside the plausible dates {earliest} … {latest} "
            "(KPI_FIRST_MONTH minus KPI_DATE_HISTORY_MONTHS to today plus KPI_DATE_FUTURE_DAYS)' end"
        )
    if column.accepted_values:
        values = ", ".join(sql_string(v) for v in column.accepted_values)
        reasons.append(
            f"case when {c} is not null and {c} not in ({values}) then "
            f"'{c} must be one of {', '.join(column.accepted_values)}: ' || {_quoted_value(c)} end"
        )
    if column.references:
        ref_entity, ref_column = column.references
        known = f"select {ref_column} from raw.{ref_entity} where _superseded_by_batch_id is null"
        if ref_entity == entity.name:  # e.g. a parent defined in the same file
            known += f" union select {ref_column} from _incoming"
        reasons.append(
            f"case when {c} is not null and {c} not in ({known}) then "
            f"'unknown {c} ' || {_quoted_value(c)} || ' (not in {ref_entity})' end"
        )
    return reasons


def entity_rule_reasons(entity: Entity) -> list[str]:
    reasons: list[str] = []
    key = ", ".join(entity.key)
    key_values = " || ', ' || ".join(f"cast({k}__typed as varchar)" for k in entity.key)
    key_present = " and ".join(f"{k}__typed is not null" for k in entity.key)
    reasons.append(
        f"case when _key_count > 1 and {key_present} then 'duplicate key ({key}) = (' || {key_values} || ') appears ' "
        f"|| _key_count || ' times in this file (rows ' || _key_rows || ')' end"
    )
    if entity.has_rule("at_least_one_score"):
        reasons.append(
            "case when nps_score is null and csat_score is null "
            "then 'at least one of nps_score and csat_score is required' end"
        )
    if entity.has_rule("resolved_not_before_opened"):
        reasons.append(
            "case when resolved_at__typed < opened_at__typed "
            "then 'resolved_at ' || resolved_at || ' is before opened_at ' || opened_at end"
        )
    if entity.has_rule("leave_not_before_hire"):
        reasons.append(
            "case when leave_date__typed < hire_date__typed "
            "then 'leave_date ' || leave_date || ' is before hire_date ' || hire_date end"
        )
    if entity.has_rule("parent_not_self"):
        reasons.append("case when parent_id = org_unit_id then 'parent_id is the unit itself' end")
    if entity.has_rule("single_root"):
        reasons.append(
            # The root already loaded wins; otherwise the file's first root row.
            """case when parent_id is null and org_unit_id is not null
                    and org_unit_id <> coalesce(
                        (select r.org_unit_id from raw.org_units as r
                         where r._superseded_by_batch_id is null and r.parent_id is null limit 1),
                        (select i.org_unit_id from _incoming as i where i.parent_id is null
                         and i.org_unit_id is not null order by i._source_row limit 1))
               then 'a second root unit (only one unit may have no parent_id)' end"""
        )
    if entity.has_rule("discount_within_gross"):
        reasons.append(
            # Only on a valid quantity and price: otherwise their own reasons say what is wrong.
            "case when quantity__typed > 0 and unit_price__typed >= 0 "
            "and discount_amount__typed > quantity__typed * unit_price__typed then "
            "'discount_amount ' || discount_amount || ' is more than the line''s gross value quantity × "
            "unit_price = ' || cast(quantity__typed * unit_price__typed as varchar) end"
        )
    if entity.has_rule("return_matches_sale"):
        reasons.append(
            "case when order_id is not null and line_no__typed is not null and _sale_quantity is null "
            "then 'no sales line for order_id ' || order_id || ' line_no ' || line_no || ' (orphan return)' end"
        )
    if entity.has_rule("return_not_before_sale"):
        reasons.append(
            "case when return_date__typed < _sale_order_date "
            "then 'return_date ' || return_date || ' is before the order_date ' || _sale_order_date end"
        )
    return reasons


def flag_references_to_rejected_rows(con: duckdb.DuckDBPyConnection, entity: Entity, column: Column) -> None:
    """A row may name a parent defined in the same file; if that parent is rejected, so is the row.

    Repeats until nothing changes, so a rejected unit takes its whole subtree in the file with it.
    """
    ref_column = column.references[1]
    while True:
        changed = con.execute(
            f"""
            update _checked set _reasons = list_append(_reasons,
                '{column.name} ' || {_quoted_value(column.name)} || ' is rejected in this file')
            where len(_reasons) = 0
              and {column.name} in (select {ref_column} from _checked where len(_reasons) > 0)
              and {column.name} not in (select {ref_column} from _checked where len(_reasons) = 0)
              and {column.name} not in (select {ref_column} from raw.{entity.name}
                                        where _superseded_by_batch_id is null)
            """
        ).fetchone()[0]
        if changed == 0:
            return


def flag_parent_cycles(con: duckdb.DuckDBPyConnection) -> None:
    """Reject every row of this file that lies on a parent_id cycle (A → B → A): such a hierarchy
    never reaches the root, and dbt's closure of it fails. The hierarchy judged is the one the file
    would leave: its valid rows, and the current loaded rows it does not correct. A unit whose chain
    only runs into a cycle is taken with it afterwards (flag_references_to_rejected_rows)."""
    con.execute(
        """
        update _checked set _reasons = list_append(_reasons,
            'parent_id cycle: ' || array_to_string(list_append(c.path, c.node), ' → ')
            || ' (the chain of parents never reaches the root)')
        from (
            with recursive new_units as (
                select org_unit_id as unit, parent_id as parent from _checked where len(_reasons) = 0
            ),
            edges as (
                select unit, parent from new_units
                union all
                select org_unit_id, parent_id from raw.org_units
                where _superseded_by_batch_id is null and org_unit_id not in (select unit from new_units)
            ),
            walk(start, node, path) as (
                select unit, parent, [unit] from new_units where parent is not null
                union all
                select w.start, e.parent, list_append(w.path, w.node)
                from walk as w join edges as e on e.unit = w.node
                where not list_contains(w.path, w.node) and e.parent is not null
            )
            select start, node, path from walk where node = start
        ) as c
        where _checked.org_unit_id = c.start and len(_checked._reasons) = 0
        """
    )


def flag_contradicting_hire_dates(con: duckdb.DuckDBPyConnection) -> None:
    """Reject an employee's rows whose hire_date is not the employee's one hire_date: that of the
    rows already loaded and not corrected by this file (consistent among themselves, as they were
    checked when loaded), otherwise that of the employee's earliest otherwise-valid row in the file."""
    con.execute(
        """
        update _checked set _reasons = list_append(_reasons,
            'hire_date ' || _checked.hire_date || ' contradicts hire_date ' || h.hire_date
            || ' of the ' || h.source || ' row of employee ' || h.employee_id
            || ' (valid from ' || h.valid_from || '): an employee has one hire_date')
        from (
            with new_rows as (
                select employee_id, valid_from__typed as valid_from, hire_date__typed as hire_date
                from _checked where len(_reasons) = 0
            ),
            loaded as (
                select employee_id, valid_from, hire_date from raw.employees
                where _superseded_by_batch_id is null
                  and employee_id in (select employee_id from new_rows)
                  and (employee_id, valid_from) not in (select (employee_id, valid_from) from new_rows)
            ),
            candidates as (
                select *, 0 as is_new from loaded union all select *, 1 as is_new from new_rows
            )
            -- Loaded rows first, then the earliest valid_from.
            select employee_id,
                   arg_min(hire_date, (is_new, valid_from)) as hire_date,
                   arg_min(valid_from, (is_new, valid_from)) as valid_from,
                   case when min(is_new) = 0 then 'loaded' else 'earliest' end as source
            from candidates group by employee_id
        ) as h
        where _checked.employee_id = h.employee_id and len(_checked._reasons) = 0
          and _checked.hire_date__typed <> h.hire_date
        """
    )


def flag_manager_cycles(con: duckdb.DuckDBPyConnection) -> None:
    """Reject every row of this file on a manager_id cycle (A's manager is B, B's is A; or A is
    their own manager) on some date: a chain of managers must end. The roster is effective-dated,
    so the managers in effect change only on the dates a row takes effect (its valid_from): the
    chain is followed on each such date through the rows in effect that day (each employee's row
    with the latest valid_from on or before it), from the file's otherwise-valid rows and the
    loaded rows it does not correct. A row whose manager only runs into a cycle is taken with it
    afterwards (flag_references_to_rejected_rows)."""
    con.execute(
        """
        update _checked set _reasons = list_append(_reasons,
            'manager_id cycle on ' || c.day || ': ' || array_to_string(list_append(c.path, c.node), ' → ')
            || ' (the chain of managers never ends)')
        from (
            with recursive new_rows as (
                select employee_id, valid_from__typed as valid_from, manager_id, _source_row
                from _checked where len(_reasons) = 0
            ),
            roster as (
                select employee_id, valid_from, manager_id, _source_row from new_rows
                union all
                select employee_id, valid_from, manager_id, null from raw.employees
                where _superseded_by_batch_id is null
                  and (employee_id, valid_from) not in (select (employee_id, valid_from) from new_rows)
            ),
            spans as (
                select *, lead(valid_from) over (partition by employee_id order by valid_from) as valid_until
                from roster
            ),
            days as (select distinct valid_from as day from roster),
            -- The rows with a manager in effect on each day (a row without one ends every chain).
            in_effect as (
                select d.day, r.employee_id, r.manager_id, r._source_row
                from days as d join spans as r
                    on r.valid_from <= d.day and (r.valid_until is null or d.day < r.valid_until)
                where r.manager_id is not null
            ),
            walk(day, start, start_row, node, path) as (
                select day, employee_id, _source_row, manager_id, [employee_id] from in_effect
                where _source_row is not null
                union all
                select w.day, w.start, w.start_row, e.manager_id, list_append(w.path, w.node)
                from walk as w join in_effect as e on e.day = w.day and e.employee_id = w.node
                where not list_contains(w.path, w.node)
            )
            select start_row, min(day) as day, arg_min(node, day) as node, arg_min(path, day) as path
            from walk where node = start group by start_row
        ) as c
        where _checked._source_row = c.start_row and len(_checked._reasons) = 0
        """
    )


def flag_over_returned_lines(con: duckdb.DuckDBPyConnection) -> None:
    """Reject new returns that push a line's returned quantity past its sold quantity.

    Returns already loaded (and not corrected by this file) count first, then this file's
    otherwise-valid returns in return_date, return_id order.
    """
    con.execute(
        """
        update _checked set _reasons = list_append(_reasons,
            'returns of order_id ' || o.order_id || ' line_no ' || o.line_no || ' would total '
            || o.returned_total || ', more than the ' || o.sold || ' sold')
        from (
            with candidates as (
                select _source_row, return_id__typed as return_id, order_id, line_no__typed as line_no,
                       return_date__typed as return_date, quantity__typed as quantity,
                       _sale_quantity as sold, 1 as is_new
                from _checked where len(_reasons) = 0
            ),
            loaded as (
                select null as _source_row, r.return_id, r.order_id, r.line_no, r.return_date, r.quantity,
                       null as sold, 0 as is_new
                from raw.returns as r
                where r._superseded_by_batch_id is null
                  and r.return_id not in (select return_id from candidates)
                  and (r.order_id, r.line_no) in (select (order_id, line_no) from candidates)
            ),
            running as (
                select *, sum(quantity) over (
                    partition by order_id, line_no order by is_new, return_date, return_id
                    rows between unbounded preceding and current row) as returned_total,
                    max(sold) over (partition by order_id, line_no) as line_sold
                from (select * from candidates union all select * from loaded)
            )
            select _source_row, order_id, line_no, returned_total, line_sold as sold
            from running where is_new = 1 and returned_total > line_sold
        ) as o
        where _checked._source_row = o._source_row
        """
    )
