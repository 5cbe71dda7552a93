{#-
  The KPI compiler: turns the metric definitions in kpi_definitions/ (graph.metrics and
  graph.semantic_models) into the SQL of the kpi_values model, so that adding a KPI is adding YAML.

  For every metric whose config.meta has a kpi_id it computes, per org unit of dim_org_units (its
  whole subtree, through int_org_unit_closure), per month, quarter and year of int_periods:
    - every measure the metric needs, aggregated from the fact rows of the period (never by
      combining child values, so parents, quarters and years are exact for distinct counts too);
    - the metric value, following the metric graph as MetricFlow does: simple → the measure;
      ratio → numerator / denominator (0 → no value); derived → its expr over its input metrics,
      an input with offset_window read from the same unit's period that much earlier;
    - numerator and denominator: those of the (innermost) ratio the KPI scales, or of a growth
      metric's current and offset inputs; a KPI that is a sum has its value as numerator;
    - sample_size: the denominator, for KPIs with a min_sample.
  Conventions (docs/kpi_definitions.md): a semantic model's `org_unit` entity names the fact's org
  unit (a model without one, such as the calendar, applies to every unit); measures named
  <name>_month/_quarter/_year are period-relative and the compiler uses the sibling of the grain.
-#}

{%- macro kpi_metric_meta(metric) -%}
    {%- set meta = (metric.config or {}).get('meta') or metric.meta or {} -%}
    {{ return(meta) }}
{%- endmacro -%}

{#- The KPI metrics (those with a kpi_id), sorted by kpi_id. -#}
{%- macro kpi_metrics() -%}
    {%- set found = [] -%}
    {%- for metric in graph.metrics.values() -%}
        {%- set meta = kpi_metric_meta(metric) -%}
        {%- if meta.get('kpi_id') -%}{%- do found.append(metric) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(found | sort(attribute='config.meta.kpi_id')) }}
{%- endmacro -%}

{%- macro kpi_metric(name) -%}
    {%- for metric in graph.metrics.values() if metric.name == name -%}
        {{ return(metric) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("KPI compiler: no metric named '" ~ name ~ "'") }}
{%- endmacro -%}

{#- measure name → {measure, semantic_model, time_dimension, org_unit_expr} -#}
{%- macro kpi_measure_index() -%}
    {%- set index = {} -%}
    {%- for model in graph.semantic_models.values() -%}
        {%- set org = namespace(expr=none) -%}
        {%- for entity in model.entities if entity.name == 'org_unit' -%}
            {%- set org.expr = entity.expr or entity.name -%}
        {%- endfor -%}
        {%- for measure in model.measures -%}
            {%- set time_name = measure.agg_time_dimension or model.defaults.agg_time_dimension -%}
            {%- set time = namespace(expr=time_name) -%}
            {%- for dimension in model.dimensions if dimension.name == time_name and dimension.expr -%}
                {%- set time.expr = dimension.expr -%}
            {%- endfor -%}
            {%- do index.update({measure.name: {
                'measure': measure, 'model': model, 'time_expr': time.expr, 'org_expr': org.expr}}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(index) }}
{%- endmacro -%}

{#- The measure names a metric reads, with the offset windows they are read at. -#}
{%- macro kpi_needed_measures(name, offset, needed) -%}
    {%- set metric = kpi_metric(name) -%}
    {%- set params = metric.type_params -%}
    {%- if metric.type == 'simple' -%}
        {%- do needed.append({'measure': params.measure.name, 'offset': offset}) -%}
    {%- elif metric.type == 'ratio' -%}
        {%- do kpi_needed_measures(params.numerator.name, offset, needed) -%}
        {%- do kpi_needed_measures(params.denominator.name, offset, needed) -%}
    {%- elif metric.type == 'derived' -%}
        {%- for input in params.metrics -%}
            {%- if input.offset_window and offset -%}
                {{ exceptions.raise_compiler_error("KPI compiler: metric '" ~ name ~ "' nests offset windows") }}
            {%- endif -%}
            {%- do kpi_needed_measures(input.name, kpi_offset_key(input.offset_window) if input.offset_window else offset, needed) -%}
        {%- endfor -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("KPI compiler: metric '" ~ name ~ "' is of type " ~ metric.type ~ "; KPIs are built from simple, ratio and derived metrics") }}
    {%- endif -%}
{%- endmacro -%}

{%- macro kpi_offset_key(window) -%}
    {{ return('off_' ~ window.count ~ '_' ~ window.granularity) }}
{%- endmacro -%}

{#- SQL of a metric's value over the measure columns of row alias `alias`. -#}
{%- macro kpi_metric_sql(name, alias) -%}
    {%- set metric = kpi_metric(name) -%}
    {%- set params = metric.type_params -%}
    {%- if metric.type == 'simple' -%}
        {{ return(alias ~ '.' ~ params.measure.name) }}
    {%- elif metric.type == 'ratio' -%}
        {{ return(kpi_ratio_sql(kpi_metric_sql(params.numerator.name, alias), kpi_metric_sql(params.denominator.name, alias))) }}
    {%- else -%}
        {%- set sql = namespace(text=params.expr) -%}
        {%- set replacements = [] -%}
        {#- Two passes through placeholders, so a replacement is never replaced again. -#}
        {%- for input in params.metrics -%}
            {%- set input_alias = kpi_offset_key(input.offset_window) if input.offset_window else alias -%}
            {%- set placeholder = '__kpi_input_' ~ loop.index ~ '__' -%}
            {%- set sql.text = modules.re.sub('\\b' ~ (input.alias or input.name) ~ '\\b', placeholder, sql.text) -%}
            {%- do replacements.append([placeholder, kpi_derived_input(kpi_metric_sql(input.name, input_alias))]) -%}
        {%- endfor -%}
        {%- for placeholder, replacement in replacements -%}
            {%- set sql.text = sql.text | replace(placeholder, replacement) -%}
        {%- endfor -%}
        {{ return('(' ~ sql.text ~ ')') }}
    {%- endif -%}
{%- endmacro -%}

{%- macro kpi_ratio_sql(numerator, denominator) -%}
    {{ return('cast(' ~ numerator ~ ' as ' ~ type_double() ~ ') / cast(nullif(' ~ denominator ~ ', 0) as ' ~ type_double() ~ ')') }}
{%- endmacro -%}

{#- [numerator SQL, denominator SQL or none] of a KPI metric (see the header). -#}
{%- macro kpi_parts_sql(name, alias) -%}
    {%- set metric = kpi_metric(name) -%}
    {%- set params = metric.type_params -%}
    {%- if metric.type == 'ratio' -%}
        {{ return([kpi_metric_sql(params.numerator.name, alias), kpi_metric_sql(params.denominator.name, alias)]) }}
    {%- elif metric.type == 'derived' and params.metrics | length == 1 and not params.metrics[0].offset_window -%}
        {{ return(kpi_parts_sql(params.metrics[0].name, alias)) }}
    {%- elif metric.type == 'derived' and params.metrics | length == 2
            and params.metrics[0].name == params.metrics[1].name
            and (params.metrics[0].offset_window is none) != (params.metrics[1].offset_window is none) -%}
        {#- the current value, and the offset one it is compared with -#}
        {%- set current = kpi_metric_sql(params.metrics[0].name, alias) -%}
        {%- set window = params.metrics[0].offset_window or params.metrics[1].offset_window -%}
        {{ return([current, kpi_metric_sql(params.metrics[0].name, kpi_offset_key(window))]) }}
    {%- else -%}
        {{ return([kpi_metric_sql(name, alias), none]) }}
    {%- endif -%}
{%- endmacro -%}

{%- macro kpi_aggregate_sql(measure, grain, index) -%}
    {%- set name = measure.name -%}
    {#- period-relative measures: use the sibling of the grain -#}
    {%- if name.endswith('_month') and (name[:-6] ~ '_' ~ grain) in index -%}
        {%- set measure = index[name[:-6] ~ '_' ~ grain].measure -%}
    {%- endif -%}
    {%- set expr = measure.expr or measure.name -%}
    {%- if measure.agg == 'sum' -%}{{ return('sum(' ~ expr ~ ')') }}
    {%- elif measure.agg == 'count' -%}{{ return('count(' ~ expr ~ ')') }}
    {%- elif measure.agg == 'count_distinct' -%}{{ return('count(distinct ' ~ expr ~ ')') }}
    {%- elif measure.agg == 'sum_boolean' -%}{{ return('sum(case when ' ~ expr ~ ' then 1 else 0 end)') }}
    {%- elif measure.agg in ('min', 'max') -%}{{ return(measure.agg ~ '(' ~ expr ~ ')') }}
    {%- elif measure.agg == 'average' -%}{{ return('avg(' ~ expr ~ ')') }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("KPI compiler: measure '" ~ measure.name ~ "' uses aggregation " ~ measure.agg ~ ", which KPIs do not support") }}
    {%- endif -%}
{%- endmacro -%}

{#- The whole SELECT of the kpi_values model. -#}
{%- macro compile_kpi_values() -%}
{%- if not execute -%}
    {#- Parsing: graph is empty; the contract's column list is what dbt needs now. -#}
    select
        cast(null as {{ dbt.type_string() }}) as kpi_id,
        cast(null as {{ dbt.type_string() }}) as period_grain,
        cast(null as date) as period_start,
        cast(null as {{ dbt.type_string() }}) as org_unit_id,
        cast(null as {{ type_double() }}) as value,
        cast(null as {{ type_double() }}) as numerator,
        cast(null as {{ type_double() }}) as denominator,
        cast(null as {{ dbt.type_bigint() }}) as sample_size,
        cast(null as {{ dbt.type_string() }}) as value_status
{%- else -%}
    {%- set index = kpi_measure_index() -%}
    {%- set kpis = kpi_metrics() -%}
    {%- if kpis | length == 0 -%}
        {{ exceptions.raise_compiler_error("KPI compiler: no metric has config.meta.kpi_id; see kpi_definitions/") }}
    {%- endif -%}
    {%- set needed = [] -%}
    {%- for kpi in kpis -%}{%- do kpi_needed_measures(kpi.name, none, needed) -%}{%- endfor -%}
    {%- set measure_names = needed | map(attribute='measure') | unique | list | sort -%}
    {%- set offsets = needed | map(attribute='offset') | reject('none') | unique | list | sort -%}
    {%- set offset_measure_names = needed | selectattr('offset') | map(attribute='measure') | unique | list -%}
    {#- A partitioned run (macros/partition_window.sql) reads, for each grain, only the facts of the
        window's periods of that grain and of the earlier periods its offset metrics compare with. -#}
    {%- set window = kpi_month_window() -%}
    {#- group the measures by (semantic model, time expression): one aggregation query each -#}
    {%- set sources = {} -%}
    {%- for name in measure_names -%}
        {%- if name not in index -%}
            {{ exceptions.raise_compiler_error("KPI compiler: measure '" ~ name ~ "' is not defined in any semantic model") }}
        {%- endif -%}
        {%- set entry = index[name] -%}
        {%- set key = entry.model.name ~ '__' ~ modules.re.sub('[^a-zA-Z0-9_]', '_', entry.time_expr) -%}
        {%- if key not in sources -%}
            {%- do sources.update({key: {'model': entry.model, 'time_expr': entry.time_expr, 'org_expr': entry.org_expr, 'measures': []}}) -%}
        {%- endif -%}
        {%- do sources[key].measures.append(entry.measure) -%}
        {%- do kpi_check_dependency(entry.model) -%}
    {%- endfor %}

with org_units as (
    select org_unit_id from {{ ref('dim_org_units') }}
),

periods as (
    select period_grain, period_start from {{ ref('int_periods') }}
    {%- if window is not none %}
    {#- the window's periods, and those the offset metrics read (e.g. the same period a year earlier) #}
    where {{ kpi_periods_in_window(window, 'period_grain', 'period_start') }}
    {%- for offset in offsets %}
    {%- set parts_of_offset = offset.split('_') %}
        or {{ kpi_periods_in_window(window, 'period_grain', 'period_start', [parts_of_offset[1] | int, parts_of_offset[2]]) }}
    {%- endfor %}
    {%- endif %}
),

closure as (
    select ancestor_org_unit_id, org_unit_id from {{ ref('int_org_unit_closure') }}
),

spine as (
    select org_units.org_unit_id, periods.period_grain, periods.period_start
    from org_units
    cross join periods
),
{% for key, source in sources.items() %}
{#- In a window: the window's periods with every measure, then, when this model has measures an
    offset metric reads, the earlier periods it compares with, with only those measures (a year's
    growth needs last year's revenue, not last year's distinct customers). -#}
{%- set parts = [('all', none)] if window is none else [('all', 'current')] -%}
{%- if window is not none and source.measures | selectattr('name', 'in', offset_measure_names) | list -%}
    {%- do parts.append(('offset', 'offset')) -%}
{%- endif %}
{{ key }} as (
    {%- for grain in ['month', 'quarter', 'year'] %}
    {%- set grain_loop = loop %}
    {%- for measures_kind, range_kind in parts %}
    select
        {% if source.org_expr %}closure.ancestor_org_unit_id{% else %}cast(null as {{ dbt.type_string() }}){% endif %} as org_unit_id,
        '{{ grain }}' as period_grain,
        cast({{ dbt.date_trunc(grain, 'facts.' ~ source.time_expr) }} as date) as period_start
        {%- for measure in source.measures %},
        {% if measures_kind == 'all' or measure.name in offset_measure_names -%}
        {{ kpi_aggregate_sql(measure, grain, index) }}
        {%- else -%}
        null
        {%- endif %} as {{ measure.name }}
        {%- endfor %}
    from {{ source.model.node_relation.relation_name }} as facts
    {%- if source.org_expr %}
    inner join closure on closure.org_unit_id = facts.{{ source.org_expr }}
    {%- endif %}
    {%- if range_kind == 'current' %}
    where {{ kpi_fact_range(window, grain, 'facts.' ~ source.time_expr) }}
    {%- elif range_kind == 'offset' %}
    where {{ kpi_offset_fact_ranges(window, grain, offsets, 'facts.' ~ source.time_expr) }}
    {%- endif %}
    group by 1, 2, 3
    {% if not (grain_loop.last and loop.last) %}union all{% endif %}
    {%- endfor %}
    {%- endfor %}
),
{% endfor %}
measures as (
    select
        spine.org_unit_id,
        spine.period_grain,
        spine.period_start
        {%- for key, source in sources.items() %}
        {%- for measure in source.measures %},
        {% if measure.agg in ('sum', 'count', 'count_distinct', 'sum_boolean') -%}
        coalesce({{ key }}.{{ measure.name }}, 0)
        {%- else -%}
        {{ key }}.{{ measure.name }}
        {%- endif %} as {{ measure.name }}
        {%- endfor %}
        {%- endfor %}
    from spine
    {%- for key, source in sources.items() %}
    left join {{ key }}
        on {{ key }}.period_grain = spine.period_grain
        and {{ key }}.period_start = spine.period_start
        {%- if source.org_expr %}
        and {{ key }}.org_unit_id = spine.org_unit_id
        {%- endif %}
    {%- endfor %}
),

kpi_rows as (
    {%- for kpi in kpis %}
    {%- set meta = kpi_metric_meta(kpi) %}
    {%- set parts = kpi_parts_sql(kpi.name, 'm') %}
    {%- set value_sql = kpi_metric_sql(kpi.name, 'm') %}
    {%- if meta.get('denominator_must_be_positive') and parts[1] is not none %}
        {%- set value_sql = 'case when ' ~ parts[1] ~ ' > 0 then ' ~ value_sql ~ ' end' %}
    {%- endif %}
    select
        '{{ meta.kpi_id }}' as kpi_id,
        m.period_grain,
        m.period_start,
        m.org_unit_id,
        cast({{ value_sql }} as {{ type_double() }}) as value,
        cast({{ parts[0] }} as {{ type_double() }}) as numerator,
        cast({{ parts[1] if parts[1] is not none else 'null' }} as {{ type_double() }}) as denominator,
        cast({{ parts[1] if meta.get('min_sample') and parts[1] is not none else 'null' }} as {{ dbt.type_bigint() }}) as sample_size,
        cast({{ meta.get('min_sample') or 'null' }} as {{ dbt.type_bigint() }}) as min_sample
    from measures as m
    {%- for offset in offsets %}
    {%- set parts_of_offset = offset.split('_') %}
    left join measures as {{ offset }}
        on {{ offset }}.org_unit_id = m.org_unit_id
        and {{ offset }}.period_grain = m.period_grain
        and {{ offset }}.period_start = cast({{ dbt.dateadd(parts_of_offset[2], -1 * (parts_of_offset[1] | int), 'm.period_start') }} as date)
    {%- endfor %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    kpi_id,
    period_grain,
    period_start,
    org_unit_id,
    value,
    numerator,
    denominator,
    sample_size,
    case
        when value is null then 'no_data'
        when min_sample is not null and coalesce(sample_size, 0) < min_sample then 'low_sample'
        else 'ok'
    end as value_status
from kpi_rows
{%- if window is not none %}
where {{ kpi_periods_in_window(window, 'period_grain', 'period_start') }}
{%- endif %}
{%- endif -%}
{%- endmacro -%}

{#- kpi_values must depend on every fact model a KPI reads, or dbt could build it first. -#}
{%- macro kpi_check_dependency(semantic_model) -%}
    {%- set required = semantic_model.depends_on.nodes -%}
    {%- for node_id in required if node_id not in model.depends_on.nodes -%}
        {{ exceptions.raise_compiler_error("KPI compiler: semantic model '" ~ semantic_model.name ~ "' reads " ~ node_id ~ ", which " ~ model.name ~ " does not depend on; add `-- depends_on: {{ ref('" ~ node_id.split('.')[-1] ~ "') }}` to " ~ model.original_file_path) }}
    {%- endfor -%}
{%- endmacro -%}

{#- The SELECT of the kpi_dictionary model: one row per KPI metric, from its definition. -#}
{%- macro compile_kpi_dictionary() -%}
{%- set text = dbt.type_string() -%}
{%- set columns = [
    ('kpi_id', text), ('metric_name', text), ('metric_type', text), ('label', text), ('label_zh', text),
    ('description', text), ('formula', text), ('owner', text), ('perspective', text), ('kind', text),
    ('unit', text), ('polarity', text), ('decimals', 'integer'), ('status_rule', text),
    ('green_at', type_double()), ('amber_at', type_double()), ('amber_band', type_double()),
    ('weight', type_double()), ('min_sample', 'integer'), ('valid_min', type_double()),
    ('valid_max', type_double()), ('definition_version', 'integer'),
    ('changelog', text), ('measures', text), ('definition_file', text), ('definition_hash', text)] -%}
{%- if not execute -%}
    select {% for name, type in columns %}cast(null as {{ type }}) as {{ name }}{{ ", " if not loop.last }}{% endfor %}
{%- else -%}
    {%- for kpi in kpi_metrics() %}
    {%- set meta = kpi_metric_meta(kpi) %}
    {%- set rule = meta.get('status_rule') or {} %}
    {%- set definition = {'name': kpi.name, 'type': kpi.type, 'type_params': kpi.type_params,
                          'description': kpi.description, 'label': kpi.label, 'meta': meta} %}
    {%- set values = {
        'kpi_id': meta.kpi_id, 'metric_name': kpi.name, 'metric_type': kpi.type,
        'label': meta.get('label') or kpi.label, 'label_zh': meta.get('label_zh'),
        'description': (meta.get('description') or kpi.description or '') | trim, 'formula': meta.get('formula'),
        'owner': meta.get('owner'), 'perspective': meta.get('perspective'), 'kind': meta.get('kind'),
        'unit': meta.get('unit'), 'polarity': meta.get('polarity'), 'decimals': meta.get('decimals'),
        'status_rule': rule.get('type'),
        'green_at': rule.get('green_at', 1.0) if rule.get('type') == 'ratio' else none,
        'amber_at': rule.get('amber_at', 0.9) if rule.get('type') == 'ratio' else none,
        'amber_band': rule.get('amber_band'), 'weight': meta.get('weight'), 'min_sample': meta.get('min_sample'),
        'valid_min': (meta.get('valid_range') or {}).get('min'), 'valid_max': (meta.get('valid_range') or {}).get('max'),
        'definition_version': meta.get('version'), 'changelog': tojson(meta.get('changelog') or []),
        'measures': kpi.type_params.input_measures | map(attribute='name') | unique | sort | join(', '),
        'definition_file': kpi.original_file_path | replace('../', '', 1),
        'definition_hash': local_md5(tojson(definition, sort_keys=true))} %}
    select
        {%- for name, type in columns %}
        cast({{ kpi_sql_literal(values[name]) }} as {{ type }}) as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endif -%}
{%- endmacro -%}

{%- macro kpi_sql_literal(value) -%}
    {%- if value is none -%}{{ return('null') }}
    {%- elif value is number -%}{{ return(value | string) }}
    {%- else -%}{{ return("'" ~ dbt.escape_single_quotes(value | string) ~ "'") }}
    {%- endif -%}
{%- endmacro -%}
