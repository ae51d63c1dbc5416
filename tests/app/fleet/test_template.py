"""Templates: the configuration of many models, checked once, named per entity."""

from __future__ import annotations

from app.fleet.template import PER_ENTITY, Template, TemplateFields, model_name, template_problems
from app.models.config import ModelSpec

VALUES = {
    "feature": "temperature",
    "fiware_service": "smart",
    "fiware_service_path": "/",
    "rnn_layers": [{"units": 4}],
    "name": None,
}


def test_a_template_declares_every_model_field_but_the_entity() -> None:
    assert set(TemplateFields.model_fields) == set(ModelSpec.model_fields) - set(PER_ENTITY)
    declared = TemplateFields.model_fields["epochs"]
    assert declared.description == ModelSpec.model_fields["epochs"].description
    assert declared.default == ModelSpec.model_fields["epochs"].default


def test_each_entity_gets_the_template_with_its_id_and_the_fleet_name() -> None:
    plain = Template(values=VALUES, entity_type="Room")
    spec = plain.spec_for("urn:Room:1")
    assert (spec.entity_type, spec.entity_id, spec.feature, spec.rnn_layers[0].units) == (
        "Room", "urn:Room:1", "temperature", 4,
    )  # fmt: skip
    assert model_name(spec) == "LSTM - temperature"
    assert (
        model_name(Template(values={**VALUES, "name": "rooms"}, entity_type="Room").spec_for("x")) == "rooms"
    )
    prefixed = Template(values=VALUES, entity_type="Room", name_prefix="room ")
    assert model_name(prefixed.spec_for("urn:Room:1")) == "room urn:Room:1"


def test_every_problem_of_a_template_is_reported_at_its_bulk_path() -> None:
    bad = Template(values={**VALUES, "rnn_layers": [{"units": 0}], "epochs": 0}, entity_type="Room")
    assert [p.field for p in template_problems(bad)] == [
        ("input", "template", "rnnLayers", "0", "units"),
        ("input", "template", "epochs"),
    ]
    assert template_problems(Template(values=VALUES, entity_type="bad type")) == []  # the selection's to say
    tenant = Template(values={**VALUES, "fiware_service": "Bad"}, entity_type="Room")
    assert [p.field for p in template_problems(tenant)] == [("input", "template", "fiwareService")]


def test_a_name_prefix_replaces_the_name_and_leaves_room_for_the_id() -> None:
    both = Template(values={**VALUES, "name": "rooms"}, entity_type="Room", name_prefix="room ")
    assert [(p.field, p.message) for p in template_problems(both)] == [
        (("input", "namePrefix"), "give either template.name or namePrefix")
    ]
    for prefix in (" ", "x" * 200):
        problems = template_problems(Template(values=VALUES, entity_type="Room", name_prefix=prefix))
        assert [p.field for p in problems] == [("input", "namePrefix")]
    assert template_problems(Template(values=VALUES, entity_type="Room", name_prefix="x" * 199)) == []
