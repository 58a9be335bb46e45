using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recur.Tensors;

/// <summary>
/// A float32 SIMD register as seen by kernels written once for every instruction set. Implementations are
/// readonly structs wrapping one hardware vector; the JIT specializes generic code over each struct, so the
/// abstraction compiles to the same instructions as hand-written intrinsics.
/// </summary>
internal interface IFloatVector<TSelf> where TSelf : struct, IFloatVector<TSelf>
{
    /// <summary>Lanes (floats) per vector.</summary>
    static abstract int Count { get; }

    /// <summary>
    /// Rows of C per GEMM micro-tile: 8 with AVX-512's 32 registers (16 accumulators, and batch sizes that are
    /// multiples of 8 fill every tile), 6 with 16 registers.
    /// </summary>
    static abstract int MicroRows { get; }

    /// <summary>Whether this CPU runs the vector in hardware with fused multiply-add.</summary>
    static abstract bool IsSupported { get; }

    static abstract TSelf Zero { get; }

    /// <summary>Reads <see cref="Count"/> floats from <paramref name="source"/> (no alignment needed).</summary>
    static abstract unsafe TSelf Load(float* source);

    /// <summary>Writes <see cref="Count"/> floats to <paramref name="destination"/> (no alignment needed).</summary>
    static abstract unsafe void Store(TSelf value, float* destination);

    /// <summary>Every lane set to <paramref name="value"/>.</summary>
    static abstract TSelf Broadcast(float value);

    /// <summary>a·b + addend per lane, rounded once where the hardware fuses it.</summary>
    static abstract TSelf FusedMultiplyAdd(TSelf a, TSelf b, TSelf addend);

    static abstract TSelf Add(TSelf a, TSelf b);

    static abstract TSelf Subtract(TSelf a, TSelf b);

    static abstract TSelf Multiply(TSelf a, TSelf b);

    static abstract TSelf Divide(TSelf a, TSelf b);

    /// <summary>
    /// x limited to [low, high] per lane; NaN stays NaN. Implemented with the native min/max instructions, x the
    /// second operand (what they return when an operand is NaN): the IEEE 754 Min/Max cost one range and two fix-up
    /// instructions each on AVX-512, in the critical path of every exponential.
    /// </summary>
    static abstract TSelf Clamp(TSelf x, TSelf low, TSelf high);

    /// <summary>x rounded to the nearest integer per lane, ties to even (as <see cref="MathF.Round(float)"/>).</summary>
    static abstract TSelf RoundToEven(TSelf x);

    /// <summary>
    /// x·2^n per lane for integral n in [−126, 127], by building 2^n in the exponent bits (one rounding, as a
    /// float multiply). n is converted with the native truncating instruction: it is integral and in range, so
    /// the saturating conversion's extra compare and blend would change nothing. AVX-512 has one instruction for
    /// it (vscalefps, one rounding too), in place of the conversion, add, shift and multiply.
    /// </summary>
    static abstract TSelf ScaleByPowerOfTwo(TSelf x, TSelf n);

    /// <summary>Sum of the lanes (in a fixed order, so repeatable).</summary>
    static abstract float Sum(TSelf value);
}

/// <summary>AVX-512: 16 floats.</summary>
internal readonly struct Float512 : IFloatVector<Float512>
{
    private readonly Vector512<float> _value;

    private Float512(Vector512<float> value) => _value = value;

    public static int Count => Vector512<float>.Count;
    public static int MicroRows => 8;
    public static bool IsSupported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;
    public static Float512 Zero => default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Float512 Load(float* source) => new(Vector512.Load(source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Store(Float512 value, float* destination) => value._value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float512 Broadcast(float value) => new(Vector512.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float512 FusedMultiplyAdd(Float512 a, Float512 b, Float512 addend)
        => new(Vector512.FusedMultiplyAdd(a._value, b._value, addend._value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float512 Add(Float512 a, Float512 b) => new(a._value + b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float512 Subtract(Float512 a, Float512 b) => new(a._value - b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float512 Multiply(Float512 a, Float512 b) => new(a._value * b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float512 Divide(Float512 a, Float512 b) => new(a._value / b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float512 Clamp(Float512 x, Float512 low, Float512 high) => new(Vector512.MinNative(high._value, Vector512.MaxNative(low._value, x._value)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float512 RoundToEven(Float512 x) => new(Vector512.Round(x._value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float512 ScaleByPowerOfTwo(Float512 x, Float512 n) => new(Avx512F.Scale(x._value, n._value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Float512 value) => Vector512.Sum(value._value);
}

/// <summary>AVX2 with FMA3: 8 floats.</summary>
internal readonly struct Float256 : IFloatVector<Float256>
{
    private readonly Vector256<float> _value;

    private Float256(Vector256<float> value) => _value = value;

    public static int Count => Vector256<float>.Count;
    public static int MicroRows => 6;
    public static bool IsSupported => Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported;
    public static Float256 Zero => default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Float256 Load(float* source) => new(Vector256.Load(source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Store(Float256 value, float* destination) => value._value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float256 Broadcast(float value) => new(Vector256.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float256 FusedMultiplyAdd(Float256 a, Float256 b, Float256 addend)
        => new(Vector256.FusedMultiplyAdd(a._value, b._value, addend._value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float256 Add(Float256 a, Float256 b) => new(a._value + b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float256 Subtract(Float256 a, Float256 b) => new(a._value - b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float256 Multiply(Float256 a, Float256 b) => new(a._value * b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float256 Divide(Float256 a, Float256 b) => new(a._value / b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float256 Clamp(Float256 x, Float256 low, Float256 high) => new(Vector256.MinNative(high._value, Vector256.MaxNative(low._value, x._value)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float256 RoundToEven(Float256 x) => new(Vector256.Round(x._value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float256 ScaleByPowerOfTwo(Float256 x, Float256 n) => new(x._value * Vector256.ShiftLeft(Vector256.ConvertToInt32Native(n._value) + Vector256.Create(127), 23).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Float256 value) => Vector256.Sum(value._value);
}

/// <summary>
/// Portable fallback over <see cref="Vector{T}"/> (whatever width the runtime picks; scalar where SIMD is
/// absent). Always supported; multiply-add is fused only where the hardware has it, never emulated in software.
/// </summary>
internal readonly struct FloatPortable : IFloatVector<FloatPortable>
{
    private readonly Vector<float> _value;

    private FloatPortable(Vector<float> value) => _value = value;

    public static int Count => Vector<float>.Count;
    public static int MicroRows => 6;
    public static bool IsSupported => true;
    public static FloatPortable Zero => default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe FloatPortable Load(float* source) => new(Vector.Load(source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Store(FloatPortable value, float* destination) => value._value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatPortable Broadcast(float value) => new(new Vector<float>(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatPortable FusedMultiplyAdd(FloatPortable a, FloatPortable b, FloatPortable addend)
        => new(Vector.MultiplyAddEstimate(a._value, b._value, addend._value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatPortable Add(FloatPortable a, FloatPortable b) => new(a._value + b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatPortable Subtract(FloatPortable a, FloatPortable b) => new(a._value - b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatPortable Multiply(FloatPortable a, FloatPortable b) => new(a._value * b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatPortable Divide(FloatPortable a, FloatPortable b) => new(a._value / b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatPortable Clamp(FloatPortable x, FloatPortable low, FloatPortable high) => new(Vector.MinNative(high._value, Vector.MaxNative(low._value, x._value)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatPortable RoundToEven(FloatPortable x) => new(Vector.Round(x._value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatPortable ScaleByPowerOfTwo(FloatPortable x, FloatPortable n) => new(x._value * Vector.AsVectorSingle(Vector.ShiftLeft(Vector.ConvertToInt32Native(n._value) + new Vector<int>(127), 23)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(FloatPortable value) => Vector.Sum(value._value);
}
