"""Retrieval-quality fixture: questions over the demo knowledge base
(``vetchart/demo_kb``), each naming the document that must be among the top 3 sources.

Used by the in-memory BM25 unit test now, and meant for the database search (full
text + vectors, fused) once the knowledge base is stored.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class KbQuestion(NamedTuple):
    question: str
    expected_document: str


TOP_K: Final = 3

KB_QUESTIONS: Final[tuple[KbQuestion, ...]] = (
    KbQuestion("How is parvovirus spread between dogs?", "canine-parvovirus.md"),
    KbQuestion(
        "My unvaccinated puppy has bloody diarrhoea and keeps vomiting. Could it be parvo?",
        "canine-parvovirus.md",
    ),
    KbQuestion(
        "A male cat is straining in the litter box and passing no urine. Is that an emergency?",
        "feline-lower-urinary-tract-disease.md",
    ),
    KbQuestion(
        "How is stress managed in cats with feline idiopathic cystitis?",
        "feline-lower-urinary-tract-disease.md",
    ),
    KbQuestion("How long does kennel cough last and is it contagious?", "kennel-cough.md"),
    KbQuestion("Why does my dog have a harsh honking cough with retching?", "kennel-cough.md"),
    KbQuestion(
        "Why does my dog keep shaking his head and scratching his ears?", "otitis-externa.md"
    ),
    KbQuestion(
        "How should ear cytology guide the treatment of otitis externa?", "otitis-externa.md"
    ),
    KbQuestion("Can diabetic cats go into remission?", "feline-diabetes-mellitus.md"),
    KbQuestion(
        "Which insulin and starting dose are used for a diabetic cat?",
        "feline-diabetes-mellitus.md",
    ),
    KbQuestion(
        "At what age do signs of hip dysplasia appear in large breed dogs?",
        "canine-hip-dysplasia.md",
    ),
    KbQuestion(
        "How can I keep my dog with hip dysplasia comfortable at home?", "canine-hip-dysplasia.md"
    ),
    KbQuestion("When should my puppy have its first vaccinations?", "dog-vaccination-schedule.md"),
    KbQuestion(
        "How often do adult dogs need core vaccine boosters?", "dog-vaccination-schedule.md"
    ),
    KbQuestion(
        "When should the final kitten vaccine be given, and is FeLV vaccination recommended?",
        "cat-vaccination-schedule.md",
    ),
    KbQuestion("How much dark chocolate is dangerous for a small dog?", "toxic-foods.md"),
    KbQuestion("Are grapes and raisins poisonous to dogs?", "toxic-foods.md"),
    KbQuestion(
        "My cat licked lily pollen off her fur. What treatment does she need?",
        "lily-poisoning-in-cats.md",
    ),
    KbQuestion("How often should I brush my dog's teeth?", "dental-care.md"),
    KbQuestion(
        "Can I use my dog's flea spot-on treatment on my cat?", "flea-and-tick-prevention.md"
    ),
)
