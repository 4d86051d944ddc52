"""Similarity of mentions (pure): terms, language, idf-weighted cosine and its explanation."""

from __future__ import annotations

from assistant import similarity
from assistant.drafts import parse_replies, prompt
from assistant.memory_blocks import past_proposal_message, suggestion_blocks
from assistant.models import Suggestion
from tests.store.test_store import make_case


def test_terms_undo_obfuscation_and_drop_function_words() -> None:
    found = similarity.terms("Vous êtes des C0NNARDS, le RÉSEAU est en panne !!! @free")
    assert found.lang == "fr"
    assert set(found.keys) == {"conard", "reseau", "pane"}
    assert found.surface["reseau"] == "reseau"
    assert similarity.terms("connard").keys == similarity.terms("c.o.n.n.a.r.d").keys


def test_language_from_the_tag_or_a_guess() -> None:
    assert similarity.language("whatever", "fr-FR") == "fr"
    assert similarity.language("the network is down and you are idiots", None) == "en"
    assert similarity.language("le réseau est en panne", "<script>") == "fr"


def test_rare_shared_words_weigh_more_than_common_ones() -> None:
    weights = {"reseau": similarity.idf(2, 1000), "nul": similarity.idf(600, 1000)}
    weights["pane"] = similarity.idf(5, 1000)
    query = ["reseau", "pane", "nul"]
    qn = similarity.norm(weights, query)
    rare, shared = similarity.similarity(
        query, qn, ["reseau", "pane"], similarity.norm(weights, ["reseau", "pane"]), weights
    )
    common, _ = similarity.similarity(
        query, qn, ["nul", "facture"], similarity.norm(weights, ["nul", "facture"]), weights
    )
    assert rare > 0.8 > common and shared == ["reseau", "pane"]
    assert similarity.similarity(query, qn, ["facture"], 1.0, weights) == (0.0, [])


def test_suggestions_on_the_card_are_escaped_and_explained() -> None:
    case = make_case().model_copy(
        update={
            "suggestions": [
                Suggestion(
                    entry="abc",
                    lang="fr",
                    mention="<!channel> bande de nuls <https://evil|clic>",
                    reply="Merci <@U1> & bonne journée",
                    similarity=0.62,
                    shared=["réseau", "<!here>"],
                )
            ]
        }
    )
    (_title, block) = suggestion_blocks(case)
    text = block["text"]["text"]
    assert "<!channel>" not in text and "<https://evil" not in text and "<@U1>" not in text
    assert "&lt;!here&gt;" in text and "62 %" in text and "réseau" in text
    assert block["accessory"]["action_id"] == "memory_propose"
    assert suggestion_blocks(make_case()) == []
    fallback, blocks = past_proposal_message("<!everyone> hi", "UALICE")
    assert "<@UALICE>" in blocks[0]["text"]["text"] and "<!everyone>" not in fallback


def test_prompt_and_answers() -> None:
    case = make_case()
    example = Suggestion(entry="a", lang="fr", mention="m", reply="r0", similarity=0.5)
    messages = prompt(case, "Toujours poli.", [example], limit=500, unit="characters")
    assert "French" in messages[0]["content"] and "Toujours poli." in messages[0]["content"]
    assert "r0" in messages[1]["content"]
    assert parse_replies('```json\n{"replies": ["a  b", "c", "c"]}\n```') == ["a b", "c"]
    assert parse_replies("1. Merci !\n- Promis.\n\n") == ["Merci !", "Promis."]
    assert parse_replies('{"replies": [1, null]}') == []


def test_shared_words_are_shown_as_written() -> None:
    keys = similarity.terms("RÉSEAU en PANNES, connards").keys
    written = similarity.as_written("Le Réseau en pannes, bande de c0nnards")
    assert [written.get(k, k) for k in keys] == ["réseau", "pannes", "c0nnards"]
