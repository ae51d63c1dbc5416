// The loss and validation-loss curves of a training job, one point per epoch, fed by the job's
// stored history and then by live progress events (which may repeat an epoch or skip some).

export interface EpochPoint {
  epoch: number;
  loss: number | null;
  valLoss: number | null;
}

export class LossSeries {
  readonly epochs: number[] = [];
  readonly loss: (number | null)[] = [];
  readonly valLoss: (number | null)[] = [];

  get length(): number {
    return this.epochs.length;
  }

  get lastEpoch(): number {
    return this.epochs.length ? this.epochs[this.epochs.length - 1] : 0;
  }

  /** Insert or update one epoch; returns whether anything changed. Amortised O(1) for appends. */
  upsert(point: EpochPoint): boolean {
    const { epoch } = point;
    if (!Number.isFinite(epoch) || epoch < 1) return false;
    if (epoch > this.lastEpoch) {
      this.epochs.push(epoch);
      this.loss.push(point.loss);
      this.valLoss.push(point.valLoss);
      return true;
    }
    const i = this.indexOf(epoch);
    if (i >= 0) {
      const loss = point.loss ?? this.loss[i];
      const valLoss = point.valLoss ?? this.valLoss[i];
      if (loss === this.loss[i] && valLoss === this.valLoss[i]) return false;
      this.loss[i] = loss;
      this.valLoss[i] = valLoss;
      return true;
    }
    // An earlier epoch not seen yet (history arriving after live events): insert in order.
    const at = -i - 1;
    this.epochs.splice(at, 0, epoch);
    this.loss.splice(at, 0, point.loss);
    this.valLoss.splice(at, 0, point.valLoss);
    return true;
  }

  merge(points: readonly EpochPoint[]): boolean {
    let changed = false;
    for (const p of points) changed = this.upsert(p) || changed;
    return changed;
  }

  /** Epochs missing between the first and the last one (live events lost to a slow client). */
  hasGaps(): boolean {
    return this.length > 0 && this.lastEpoch - this.epochs[0] + 1 !== this.length;
  }

  /** uPlot's column layout: x (epochs), loss, validation loss. */
  data(): [number[], (number | null)[], (number | null)[]] {
    return [this.epochs, this.loss, this.valLoss];
  }

  private indexOf(epoch: number): number {
    let lo = 0;
    let hi = this.epochs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.epochs[mid];
      if (v === epoch) return mid;
      if (v < epoch) lo = mid + 1;
      else hi = mid - 1;
    }
    return -lo - 1;
  }
}
