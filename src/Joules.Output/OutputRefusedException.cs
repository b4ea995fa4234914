namespace Joules.Output;

/// <summary>An output that cannot be written safely (it is also an input, or it would replace something Joules did not make), refused before anything was touched.</summary>
public sealed class OutputRefusedException(string message) : IOException(message);
