{#- A key made of several columns is unique. (dbt-utils has this test; the project installs no
    packages so that it builds offline.) -#}
{% test unique_key_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
