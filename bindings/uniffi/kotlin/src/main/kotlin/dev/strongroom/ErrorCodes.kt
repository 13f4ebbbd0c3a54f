package dev.strongroom

import dev.strongroom.core.*

private val codeOfVariant: Map<String, String> by lazy { errorVariants().zip(errorCodes()).toMap() }

/**
 * The stable error code of a [KmsException], exactly as every other
 * language sees it (`KMSInvalidStateException`, `NotFoundException`, ...).
 * The subclasses are named after the core's `ErrorCode` variants
 * (`KmsException.NotFound`, `KmsException.KmsInvalidState`); both lists
 * come from the core's one error table.
 */
val KmsException.code: String
    get() = codeOfVariant[this.javaClass.simpleName] ?: this.javaClass.simpleName
