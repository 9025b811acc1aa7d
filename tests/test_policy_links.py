"""desk.policy.links: rule terms-11-overlap (links are normalised before comparison)."""

import time

import pytest

from desk.policy.links import RULE, normalize_link

VID = "dQw4w9WgXcQ"           # YouTube ids are 11 case-sensitive characters
POST = "C3xYz_AbCdE"          # Instagram post codes are case-sensitive
TT = "7301234567890123456"    # TikTok video id
TWEET = "1712345678901234567"  # X status id


def test_rule_id():
    assert RULE == "terms-11-overlap"


YOUTUBE = [
    (f"https://www.youtube.com/watch?v={VID}", f"https://youtube.com/watch?v={VID}"),
    (f"youtube.com/watch?v={VID}&t=10s", f"https://youtube.com/watch?v={VID}"),
    (f"https://m.youtube.com/watch?feature=share&v={VID}", f"https://youtube.com/watch?v={VID}"),
    (f"https://youtu.be/{VID}?si=AbC123xyz&t=42", f"https://youtube.com/watch?v={VID}"),
    (f"https://youtube.com/shorts/{VID}?feature=share", f"https://youtube.com/watch?v={VID}"),
    (f"https://www.youtube.com/embed/{VID}?start=30", f"https://youtube.com/watch?v={VID}"),
    (f"https://www.youtube-nocookie.com/embed/{VID}", f"https://youtube.com/watch?v={VID}"),
    (f"https://youtube.com/live/{VID}?si=xyz", f"https://youtube.com/watch?v={VID}"),
    (f"https://www.youtube.com/watch?v={VID}&list=PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf&index=3",
     f"https://youtube.com/watch?v={VID}"),
    (f"https://www.youtube.com/watch?v={VID}?si=mangled", f"https://youtube.com/watch?v={VID}"),
    ("https://www.youtube.com/@MrBeast", "https://youtube.com/@mrbeast"),
    ("https://www.youtube.com/@MrBeast/videos", "https://youtube.com/@mrbeast"),
    ("https://www.youtube.com/@MrBeast/live", "https://youtube.com/@mrbeast/live"),
    ("https://www.youtube.com/channel/UCX6OQ3DkcsbYNE6H8uQQuVA/",
     "https://youtube.com/channel/UCX6OQ3DkcsbYNE6H8uQQuVA"),
    ("https://www.youtube.com/playlist?list=PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf&si=x1",
     "https://youtube.com/playlist?list=PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf"),
    ("https://www.youtube.com/embed/videoseries?list=PLabc",
     "https://youtube.com/embed/videoseries?list=PLabc"),
]

INSTAGRAM = [
    (f"https://www.instagram.com/p/{POST}/?igsh=MTc4MmM1YmI2Ng==", f"https://instagram.com/p/{POST}"),
    (f"https://instagram.com/p/{POST}/?utm_source=ig_web_copy_link&igshid=MzRlODBiNWFlZA==",
     f"https://instagram.com/p/{POST}"),
    (f"instagr.am/p/{POST}", f"https://instagram.com/p/{POST}"),
    (f"https://www.instagram.com/reel/{POST}/?igsh=abc", f"https://instagram.com/p/{POST}"),
    (f"https://www.instagram.com/reels/{POST}/", f"https://instagram.com/p/{POST}"),
    (f"https://www.instagram.com/nasa/p/{POST}/", f"https://instagram.com/p/{POST}"),
    (f"https://www.instagram.com/p/{POST}/?img_index=2", f"https://instagram.com/p/{POST}"),
    ("https://www.instagram.com/NASA/", "https://instagram.com/nasa"),
    ("https://m.instagram.com/Some.User_99?hl=en", "https://instagram.com/some.user_99"),
    ("https://www.instagram.com/stories/NatGeo/3291234567890123456/",
     "https://instagram.com/stories/natgeo/3291234567890123456"),
]

TIKTOK = [
    (f"https://www.tiktok.com/@Charlidamelio/video/{TT}?is_from_webapp=1&sender_device=pc",
     f"https://tiktok.com/@charlidamelio/video/{TT}"),
    (f"https://m.tiktok.com/@charlidamelio/video/{TT}?_t=8hXyZ&_r=1",
     f"https://tiktok.com/@charlidamelio/video/{TT}"),
    (f"tiktok.com/@User.Name/photo/{TT}/", f"https://tiktok.com/@user.name/photo/{TT}"),
    ("https://www.tiktok.com/@Khaby.Lame?lang=en", "https://tiktok.com/@khaby.lame"),
    ("https://vm.tiktok.com/ZMabcDEF/", "https://vm.tiktok.com/ZMabcDEF"),
    ("https://vt.tiktok.com/ZSxYz12/?utm_source=x", "https://vt.tiktok.com/ZSxYz12"),
]

TELEGRAM = [
    ("https://t.me/DurovChannel", "https://t.me/durovchannel"),
    ("telegram.me/durovchannel/", "https://t.me/durovchannel"),
    ("https://t.me/s/DurovChannel", "https://t.me/durovchannel"),
    ("https://t.me/durov/123?single", "https://t.me/durov/123"),
    ("http://telegram.dog/Durov/45", "https://t.me/durov/45"),
    ("https://t.me/+AbCdEf123_xyz", "https://t.me/+AbCdEf123_xyz"),
    ("https://t.me/joinchat/AAAAAEhZcXyZ", "https://t.me/joinchat/AAAAAEhZcXyZ"),
    ("https://t.me/c/1234567890/42", "https://t.me/c/1234567890/42"),
]

X_TWITTER = [
    (f"https://twitter.com/ElonMusk/status/{TWEET}", f"https://x.com/elonmusk/status/{TWEET}"),
    (f"https://x.com/elonmusk/status/{TWEET}?s=20&t=AbCdEfGh", f"https://x.com/elonmusk/status/{TWEET}"),
    (f"https://mobile.twitter.com/ElonMusk/status/{TWEET}/photo/1",
     f"https://x.com/elonmusk/status/{TWEET}"),
    (f"https://www.x.com/elonmusk/status/{TWEET}/video/1", f"https://x.com/elonmusk/status/{TWEET}"),
    (f"twitter.com/NASA/statuses/{TWEET}", f"https://x.com/nasa/status/{TWEET}"),
    ("https://twitter.com/NASA?ref_src=twsrc%5Etfw", "https://x.com/nasa"),
    ("https://x.com/i/spaces/1YqKDgXbWLyGV", "https://x.com/i/spaces/1YqKDgXbWLyGV"),
]

FACEBOOK = [
    ("https://m.facebook.com/NASA/posts/pfbid02AbCdEf?fbclid=IwAR0xyz",
     "https://facebook.com/NASA/posts/pfbid02AbCdEf"),
    ("https://fb.com/NASA/", "https://facebook.com/NASA"),
    ("https://web.facebook.com/profile.php?id=100064&mibextid=ZbWKwL", "https://facebook.com/profile.php?id=100064"),
    ("https://www.facebook.com/watch/?v=1234567890&ref=sharing", "https://facebook.com/watch?v=1234567890"),
]

GENERIC = [
    ("  HTTP://Example.COM/Some/Path/  ", "https://example.com/Some/Path"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://example.com:80/a", "https://example.com/a"),
    ("https://example.com:8080/a", "https://example.com:8080/a"),
    ("https://example.com//a///b/", "https://example.com/a/b"),
    ("https://example.com/page?b=2&utm_source=tg&a=1&UTM_Campaign=x#section-2",
     "https://example.com/page?a=1&b=2"),
    ("https://shop.example.com/item?gclid=abc&id=7", "https://shop.example.com/item?id=7"),
    ("example.com/search?s=shoes", "https://example.com/search?s=shoes"),
    ("//cdn.example.com/x", "https://cdn.example.com/x"),
    ("https://user:secret@example.com/x", "https://example.com/x"),
    ("https://www.m.example.com/", "https://example.com"),
    ("https://m.me/page", "https://m.me/page"),  # a prefix is only dropped while a name remains
    ("https://Example.com./A", "https://example.com/A"),
]


@pytest.mark.parametrize(
    "raw, expected",
    [pytest.param(raw, expected, id=f"{group}-{i}")
     for group, cases in [("youtube", YOUTUBE), ("instagram", INSTAGRAM), ("tiktok", TIKTOK),
                          ("telegram", TELEGRAM), ("x", X_TWITTER), ("facebook", FACEBOOK),
                          ("generic", GENERIC)]
     for i, (raw, expected) in enumerate(cases)],
)
def test_normalize_link(raw, expected):
    assert normalize_link(raw) == expected
    assert normalize_link(expected) == expected  # the canonical form is a fixed point


ALL_CASES = YOUTUBE + INSTAGRAM + TIKTOK + TELEGRAM + X_TWITTER + FACEBOOK + GENERIC


def test_enough_link_shapes():
    assert len(ALL_CASES) >= 40


SAME_TARGET = {
    "youtube": [
        f"https://www.youtube.com/watch?v={VID}",
        f"https://youtube.com/watch?v={VID}&t=10s",
        f"http://m.youtube.com/watch?v={VID}&si=abcDEF",
        f"https://youtu.be/{VID}?si=abcDEF&t=5",
        f"youtu.be/{VID}",
        f"https://www.youtube.com/shorts/{VID}?feature=share",
        f"https://youtube.com/shorts/{VID}/",
        f"https://www.youtube.com/embed/{VID}?si=x&t=3",
        f"https://www.youtube.com/live/{VID}#t=40",
    ],
    "instagram": [
        f"https://www.instagram.com/p/{POST}/?igsh=MTc4MmM1YmI2Ng==",
        f"https://instagram.com/p/{POST}",
        f"https://m.instagram.com/p/{POST}/",
        f"instagr.am/p/{POST}/?utm_source=ig_web_copy_link",
        f"https://www.instagram.com/someuser/p/{POST}/",
    ],
    "instagram-reel": [  # a reel and a post with the same code are the same media
        f"https://www.instagram.com/p/{POST}/",
        f"https://www.instagram.com/tv/{POST}",
        f"https://www.instagram.com/reel/{POST}/?igsh=abc",
        f"https://www.instagram.com/reels/{POST}/",
        f"https://m.instagram.com/reel/{POST}",
        f"instagram.com/Reel/{POST}",
    ],
    "instagram-profile": [
        "https://www.instagram.com/NatGeo/",
        "instagram.com/natgeo",
        "https://m.instagram.com/natgeo?igshid=YmMyMTA2M2Y=",
    ],
    "tiktok": [
        f"https://www.tiktok.com/@Charlidamelio/video/{TT}?is_from_webapp=1&sender_device=pc",
        f"https://tiktok.com/@charlidamelio/video/{TT}",
        f"https://m.tiktok.com/@CHARLIDAMELIO/video/{TT}/?_t=8hX&_r=1&lang=en",
        f"tiktok.com/@charlidamelio/video/{TT}#comments",
    ],
    "telegram": [
        "https://t.me/DurovChannel",
        "t.me/durovchannel/",
        "https://telegram.me/durovchannel",
        "https://t.me/s/durovchannel",
        "http://www.t.me/DurovChannel?utm_source=x",
    ],
    "telegram-post": [
        "https://t.me/DurovChannel/123",
        "https://t.me/s/durovchannel/123",
        "telegram.me/durovchannel/123/?single",
    ],
    "x": [
        f"https://twitter.com/ElonMusk/status/{TWEET}",
        f"https://x.com/elonmusk/status/{TWEET}?s=20&t=AbCdEfGh",
        f"https://mobile.twitter.com/elonmusk/status/{TWEET}/photo/1",
        f"https://www.twitter.com/ELONMUSK/status/{TWEET}/video/1?ref_src=twsrc",
        f"x.com/elonmusk/status/{TWEET}/",
    ],
}


@pytest.mark.parametrize("links", SAME_TARGET.values(), ids=SAME_TARGET.keys())
def test_same_target_normalises_equal(links):
    forms = {normalize_link(link) for link in links}
    assert len(forms) == 1, forms


@pytest.mark.parametrize("a, b", [
    pytest.param(f"https://youtu.be/{VID}", f"https://youtu.be/{VID.lower()}", id="youtube-id-case"),
    pytest.param("https://youtube.com/watch?v=abcdefghijk", "https://youtube.com/watch?v=abcdefghijK",
                 id="youtube-id-last-char-case"),
    pytest.param(f"https://youtube.com/shorts/{VID}", "https://youtube.com/shorts/dQw4w9WgXcR", id="youtube-ids"),
    pytest.param(f"https://instagram.com/p/{POST}", f"https://instagram.com/p/{POST.lower()}", id="instagram-code-case"),
    pytest.param(f"https://instagram.com/p/{POST}", "https://instagram.com/p/C3xYz_AbCdF", id="instagram-codes"),
    pytest.param("https://t.me/channel/1", "https://t.me/channel/2", id="telegram-posts"),
    pytest.param("https://t.me/channel", "https://t.me/channel/1", id="telegram-channel-vs-post"),
    pytest.param("https://t.me/+AbCdEf", "https://t.me/+abcdef", id="telegram-invite-case"),
    pytest.param("https://vm.tiktok.com/ZMabc", "https://vm.tiktok.com/ZMABC", id="tiktok-short-case"),
    pytest.param(f"https://x.com/nasa/status/{TWEET}", "https://x.com/nasa/status/1712345678901234568", id="x-ids"),
    pytest.param("https://example.com/Page", "https://example.com/page", id="generic-path-case"),
    pytest.param("https://example.com/a?id=1", "https://example.com/a?id=2", id="generic-params"),
    pytest.param("https://example.com/a", "https://example.com:8443/a", id="generic-port"),
])
def test_different_targets_stay_different(a, b):
    assert normalize_link(a) != normalize_link(b)


@pytest.mark.parametrize("raw, expected", [
    ("", ""),
    ("   ", ""),
    ("\n\t", ""),
    (None, ""),
    ("not a link", "not a link"),
    ("https://", "https://"),
    ("http:///", "http:///"),
    ("javascript:alert(1)", "javascript:alert(1)"),
    ("JavaScript:alert(1)", "javascript:alert(1)"),
    ("mailto:Help@Example.com", "mailto:help@example.com"),
    ("tg://resolve?domain=Durov", "tg://resolve?domain=durov"),
    ("ftp://example.com/file", "ftp://example.com/file"),
    ("@SomeUser", "@someuser"),
    ("user@example.com", "user@example.com"),
    ("hello", "hello"),
    ("https://exa mple.com", "https://exa mple.com"),
    ("https://example.com:notaport/", "https://example.com:notaport/"),
    ("https://example.com:99999/", "https://example.com:99999/"),
    ("http://[::1", "http://[::1"),
    ("https://a:b:c/", "https://a:b:c/"),
    ("https://exa$mple.com/", "https://exa$mple.com/"),
    ("https://example.com/\x00", "https://example.com/\x00"),
    ("???", "???"),
    ("#", "#"),
])
def test_garbage_never_raises(raw, expected):
    assert normalize_link(raw) == expected


def test_linear_time_on_long_input():
    payloads = [
        "https://example.com/" + "a/" * 50_000,
        "https://example.com/?" + "utm_x=1&" * 50_000,
        "a" * 100_000,
        "https://" + "a." * 50_000 + "com",
        "https://youtube.com/watch?v=" + "A" * 100_000,
        "https://x.com/" + "status/" * 30_000,
    ]
    start = time.perf_counter()
    for payload in payloads:
        normalize_link(payload)
    assert time.perf_counter() - start < 1.0
