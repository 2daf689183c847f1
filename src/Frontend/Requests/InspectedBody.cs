namespace Dispatcher.Frontend.Requests;

/// <summary>A POST body read in full, with the fields the dispatcher needs.</summary>
/// <param name="Content">The original bytes, forwarded unchanged.</param>
/// <param name="Model">The top-level <c>model</c>.</param>
/// <param name="Stream">The top-level <c>stream</c> (false when absent).</param>
/// <param name="Priority">The top-level <c>priority</c>, when the client set one.</param>
/// <param name="PriorityProperty">Where the <c>priority</c> property (name to value) lies in <paramref name="Content"/>.</param>
internal sealed record InspectedBody(ReadOnlyMemory<byte> Content, string Model, bool Stream, int? Priority, Range? PriorityProperty);
