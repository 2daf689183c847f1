namespace Dispatcher.VllmEmulator;

/// <summary>A copy of the emulated engine's counters at one instant.</summary>
/// <param name="Running">Requests generating now.</param>
/// <param name="Waiting">Requests queued behind <see cref="EmulatorOptions.MaxNumSeqs"/>.</param>
/// <param name="Received">Requests that reached the engine.</param>
/// <param name="Completed">Requests that finished normally.</param>
/// <param name="Aborted">Requests whose client went away before they finished.</param>
/// <param name="GenerationTokens">Tokens generated in all.</param>
/// <param name="MaxRunning">The most requests that ever ran at once.</param>
/// <param name="MaxWaiting">The most requests that ever waited at once in the engine's own queue.</param>
/// <param name="SlowestDecodeRate">The lowest decode rate (tokens/s after the first token) of any finished request
/// of at least 10 tokens; null before one.</param>
/// <param name="BusySeconds">Time with at least one request running (the emulated GPU's busy time).</param>
public sealed record EngineStats(int Running, int Waiting, long Received, long Completed, long Aborted, long GenerationTokens, int MaxRunning, int MaxWaiting, double? SlowestDecodeRate, double BusySeconds = 0);
