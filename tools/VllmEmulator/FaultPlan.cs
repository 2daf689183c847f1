namespace Dispatcher.VllmEmulator;

/// <summary>
/// A failure to inject into the next requests on <c>/v1</c>. Set it in process through
/// <see cref="EmulatorServer.Faults"/> or over HTTP with <c>POST /emulator/faults</c> (JSON, camelCase).
/// </summary>
/// <param name="Count">How many requests it applies to; 0 for every request until cleared.</param>
/// <param name="Status">Answer with this HTTP status and a vLLM-shaped error body (or <paramref name="Body"/>).</param>
/// <param name="Body">The body to send with <paramref name="Status"/>, verbatim.</param>
/// <param name="DelayMs">Wait this long before answering.</param>
/// <param name="StallAfterTokens">Stop producing tokens after this many and hold the response open.</param>
/// <param name="CutAfterTokens">Abort the connection after this many tokens.</param>
public sealed record FaultPlan(
    int Count = 1,
    int? Status = null,
    string? Body = null,
    int? DelayMs = null,
    int? StallAfterTokens = null,
    int? CutAfterTokens = null);
