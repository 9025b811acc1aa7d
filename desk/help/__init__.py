"""The public help center: articles in Markdown, one file per article and language
(desk/help/articles/<locale>/<slug>.md), each explaining the rules of the Terms behind the
desk's decisions, so every rule id the desk shows can link to the words that explain it."""
