using System.Globalization;
using System.Text;
using System.Text.Json;
using Dispatcher.Testing;

namespace Dispatcher.Frontend.Tests.Api;

/// <summary>
/// Bodies around <c>MaxRequestBodySize</c> sent by real clients (.NET's HttpClient with and without a length, Node's
/// fetch, Python's http.client, curl): under the limit the answer is the replica's; over it every client reads the 413
/// in OpenAI's shape, even one still uploading 64 times the limit when it comes (the rest is read and thrown away
/// before the connection closes, instead of a reset that breaks its pipe).
/// </summary>
public sealed class BodyLimitTests : IAsyncLifetime
{
    private const int Limit = 1024 * 1024;

    private readonly string _directory = Directory.CreateTempSubdirectory("dispatcher-body-limit-").FullName;
    private DispatcherHost _host = null!;

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var client in new[] { "httpclient", "httpclient-chunked", "node-fetch", "python-http.client", "curl" })
        {
            foreach (var size in new[] { Limit - 1024, Limit + 1, 64 * Limit })
            {
                data.Add(client, size);
            }
        }

        return data;
    }

    public async Task InitializeAsync() =>
        _host = await DispatcherHost.StartAsync(settings: new() { ["Dispatcher:Forwarding:MaxRequestBodySize"] = Limit.ToString(CultureInfo.InvariantCulture) });

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Post_AroundTheLimit_EveryClientReadsTheAnswer(string client, int size)
    {
        var file = Path.Combine(_directory, $"{client}-{size}.json");
        await File.WriteAllBytesAsync(file, Body(size));

        var (status, answer) = await SendAsync(client, file);

        if (size <= Limit)
        {
            Assert.Equal(200, status);
            Assert.Equal("chat.completion", JsonDocument.Parse(answer).RootElement.GetProperty("object").GetString());
        }
        else
        {
            Assert.Equal(413, status);
            Assert.Equal("request_too_large", JsonDocument.Parse(answer).RootElement.GetProperty("error").GetProperty("code").GetString());
        }

        await _host.AssertDrainedAsync();
    }

    /// <summary>A chat request of exactly <paramref name="size"/> bytes (a padding field the replica ignores).</summary>
    private static byte[] Body(int size)
    {
        var start = $"{{\"model\":\"{DispatcherHost.Model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}],\"max_tokens\":1,\"padding\":\"";
        const string end = "\"}";
        return Encoding.UTF8.GetBytes(start + new string('x', size - start.Length - end.Length) + end);
    }

    private async Task<(int Status, string Answer)> SendAsync(string client, string file)
    {
        var url = new Uri(_host.BaseAddress, "/v1/chat/completions").AbsoluteUri;
        var token = DispatcherHost.HighToken;
        switch (client)
        {
            case "httpclient":
            case "httpclient-chunked":
                using (var http = new HttpClient { Timeout = Eventually.Limit })
                {
                    var bytes = await File.ReadAllBytesAsync(file);
                    HttpContent content = client == "httpclient" ? new ByteArrayContent(bytes) : new StreamContent(new UnseekableStream(bytes));
                    content.Headers.ContentType = new("application/json");
                    using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = content };
                    request.Headers.Authorization = new("Bearer", token);
                    using var response = await http.SendAsync(request);
                    return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
                }

            case "node-fetch":
                return Parse(await RunAsync("node", "-e", """
                    const [url, token, file] = process.argv.slice(1);
                    fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: require("fs").readFileSync(file) })
                      .then(async r => console.log(`${r.status}\n${await r.text()}`))
                      .catch(e => { console.log(`0\n${e.cause ?? e}`); });
                    """, url, token, file));
            case "python-http.client":
                return Parse(await RunAsync("python3", "-c", """
                    import http.client, sys, urllib.parse
                    url, token, file = sys.argv[1:4]
                    parts = urllib.parse.urlsplit(url)
                    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                    try:
                        connection.request("POST", parts.path, body=open(file, "rb").read(), headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
                        response = connection.getresponse()
                        print(response.status); print(response.read().decode())
                    except OSError as error:
                        print(0); print(repr(error))
                    """, url, token, file));
            default:
                return Parse(await RunAsync("curl", "-sS", "-X", "POST", url, "-H", $"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
                    "--data-binary", $"@{file}", "-w", "\n%{http_code}"), statusLast: true);
        }
    }

    private static (int, string) Parse(string output, bool statusLast = false)
    {
        var text = output.TrimEnd();
        var split = statusLast ? text.LastIndexOf('\n') : text.IndexOf('\n', StringComparison.Ordinal);
        var (status, answer) = statusLast ? (text[(split + 1)..], text[..split]) : (text[..split], text[(split + 1)..]);
        return (int.Parse(status, CultureInfo.InvariantCulture), answer);
    }

    private static async Task<string> RunAsync(string program, params string[] arguments)
    {
        var (_, output, errors) = await ProgramRun.RunAsync(program, arguments, Eventually.Limit);
        return output is { Length: > 0 } ? output : throw new InvalidOperationException($"{program} printed nothing: {errors}");
    }

    /// <summary>A body of unknown length: HttpClient sends it chunked.</summary>
    private sealed class UnseekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
