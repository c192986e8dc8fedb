import pytest
from pydantic import ValidationError

from workflows.catalog import builtin_flows, get_flow
from workflows.flows import FlowDef

STEP = {"title": "t", "agency": "tax"}


def flow(*steps):
    return {"name": "demo", "title": "Demo", "version": 1, "steps": list(steps)}


def test_business_registration_runs_licence_after_name_check_then_the_rest_in_parallel():
    f = get_flow("business_registration")
    assert f.step("business_licence").depends_on == ["name_check"]
    parallel = [s.id for s in f.steps if s.depends_on == ["business_licence"]]
    assert sorted(parallel) == ["bank_account", "housing_fund", "seal_approval", "social_security", "tax_registration"]
    assert [s.id for s in f.steps if s.when] == ["bank_account", "housing_fund"]
    assert f.topological_order()[:2] == ["name_check", "business_licence"]
    assert all(s.compensation for s in f.steps)


def test_version_hash_is_stable_and_changes_with_the_definition():
    f = get_flow("business_registration")
    assert f.version_hash() == FlowDef.model_validate(f.model_dump()).version_hash()
    changed = f.model_copy(update={"sla_minutes": f.sla_minutes + 1})
    assert changed.version_hash() != f.version_hash()


def test_cycle_is_refused_naming_the_steps():
    with pytest.raises(ValidationError, match="dependency cycle among: a, b"):
        FlowDef.model_validate(flow({"id": "a", "depends_on": ["b"], **STEP}, {"id": "b", "depends_on": ["a"], **STEP}))


def test_dependency_on_missing_step_is_refused():
    with pytest.raises(ValidationError, match="step 'a' depends on missing step"):
        FlowDef.model_validate(flow({"id": "a", "depends_on": ["ghost"], **STEP}))


def test_duplicate_step_ids_are_refused():
    with pytest.raises(ValidationError, match="unique: a appear"):
        FlowDef.model_validate(flow({"id": "a", **STEP}, {"id": "a", **STEP}))


def test_unknown_agency_is_refused():
    f = FlowDef.model_validate(flow({"id": "a", "title": "t", "agency": "customs"}))
    with pytest.raises(ValueError, match="unknown agency.*customs"):
        f.check_agencies({"tax", "market_regulation"})


def test_every_builtin_flow_names_only_known_agencies():
    from agencies.directory import AGENCIES

    for f in builtin_flows().values():
        f.check_agencies(set(AGENCIES))


def test_unknown_flow_name_says_which_exist():
    with pytest.raises(KeyError, match="known: business_registration"):
        get_flow("nope")


def test_a_definition_that_declares_no_reads_hashes_as_it_did_before_reads_existed():
    recorded = flow({"id": "a", **STEP})  # as cases started before steps declared reads hold it
    f = FlowDef.model_validate(recorded)
    assert f.steps[0].reads is None and "reads" not in f.model_dump(mode="json")["steps"][0]
    declared = FlowDef.model_validate(flow({"id": "a", "reads": ["company.name"], **STEP}))
    assert declared.version_hash() != f.version_hash()


def test_every_builtin_step_declares_what_it_reads():
    for f in builtin_flows().values():
        assert all(s.reads for s in f.steps), f.name


@pytest.mark.parametrize("path", ["", "Company", "company.", ".name", "company..name", "company name", "company.*"])
def test_a_read_that_is_not_a_dotted_field_path_is_refused(path):
    with pytest.raises(ValidationError, match="reads.0"):
        FlowDef.model_validate(flow({"id": "a", "reads": [path], **STEP}))


def test_what_a_correction_changes_and_what_a_completed_step_judged():
    from workflows.catalog import get_flow
    from workflows.flows import changed_paths, overlaps

    old = {
        "company": {"name": "济南泉智信息科技有限公司", "business_scope": "软件开发", "division": "370102"},
        "shareholders": [{"name": "张三"}],
        "options": {"bank_account": False},
    }
    new = {
        "company": {"name": "济南泉智信息科技有限公司", "business_scope": "食品经营", "division": "370102"},
        "shareholders": [{"name": "李四"}],
        "options": {"bank_account": False, "housing_fund": True},
    }
    assert changed_paths(old, new) == ["company.business_scope", "options.housing_fund", "shareholders"]
    assert changed_paths(old, old) == []
    flow = get_flow("business_registration")
    name_check, licence, bank = flow.step("name_check"), flow.step("business_licence"), flow.step("bank_account")
    assert not overlaps("company.business_scope", name_check.judged())  # the name check judged the name only
    assert overlaps("company.name", name_check.judged()) and overlaps("company", name_check.judged())
    assert overlaps("company.business_scope", licence.judged())  # its rules test the scope
    assert overlaps("options.bank_account", bank.judged())  # the option decides whether it runs
    assert overlaps("anything", None)  # a step that declares nothing judged everything
