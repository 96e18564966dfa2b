"""with_token: the one way a join token is put into a URL."""

from wsdemo.wire import mask_tokens_text, with_token


def test_a_token_goes_into_the_query_quoted():
    assert with_token("/echo", "abc") == "/echo?token=abc"
    assert with_token("/chat?name=Ada", "abc") == "/chat?name=Ada&token=abc"
    assert with_token("http://h:1/chat.html", "a b&c=d/e") == "http://h:1/chat.html?token=a%20b%26c%3Dd%2Fe"


def test_no_token_leaves_the_url_as_it_is():
    assert with_token("/echo", None) == "/echo"
    assert with_token("/echo?x=1", "") == "/echo?x=1"


def test_a_fragment_stays_last():
    assert with_token("/chat.html#room", "abc") == "/chat.html?token=abc#room"
    assert with_token("/chat.html?a=1#room?x", "abc") == "/chat.html?a=1&token=abc#room?x"


def test_the_token_it_adds_is_the_one_redaction_masks():
    assert mask_tokens_text(with_token("/echo?name=Ada", "s3cret-token")) == "/echo?name=Ada&token=************"
